//! `filesystem.*` and `file.read` over a real server: what the iOS app uses to pick a working
//! directory and to show a file. The server's home is the test's temp dir.

mod common;

use common::{start, Client};
use serde_json::json;
use tron::testing::Script;

#[tokio::test]
async fn list_dir_sorts_folders_first_and_hides_dot_files() {
    let server = start(Script::default()).await;
    let home = server.dir();
    std::fs::create_dir(format!("{home}/zeta")).unwrap();
    std::fs::create_dir(format!("{home}/Alpha")).unwrap();
    std::fs::write(format!("{home}/b.txt"), "hello").unwrap();
    std::fs::write(format!("{home}/.hidden"), "").unwrap();
    let mut c = Client::connect(server.addr).await;

    let listed = c.call("filesystem.listDir", json!({})).await;
    assert_eq!(listed["path"], home.as_str(), "the home directory by default");
    let names: Vec<&str> =
        listed["entries"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    let files = names.iter().position(|n| *n == "b.txt").unwrap();
    assert_eq!(&names[..2], ["Alpha", "zeta"], "{names:?}");
    assert!(files >= 2 && !names.contains(&".hidden"), "{names:?}");
    let file = listed["entries"].as_array().unwrap().iter().find(|e| e["name"] == "b.txt").unwrap();
    assert_eq!(file["size"], 5);
    assert_eq!(file["isDirectory"], false);
    assert!(file["modifiedAt"].as_str().unwrap().ends_with('Z'));
    let dir = listed["entries"].as_array().unwrap().iter().find(|e| e["name"] == "zeta").unwrap();
    assert!(dir.get("size").is_none(), "no stats for directories");

    let hidden = c.call("filesystem.listDir", json!({"path": home, "showHidden": true})).await;
    assert!(hidden["entries"].as_array().unwrap().iter().any(|e| e["name"] == ".hidden"));
    let root = c.call("filesystem.listDir", json!({"path": "/"})).await;
    assert_eq!(root["parent"], json!(null));
    let e = c.fail("filesystem.listDir", json!({"path": format!("{home}/missing")})).await;
    assert_eq!(e["code"], "FILESYSTEM_ERROR");
}

#[tokio::test]
async fn get_home_suggests_existing_project_folders() {
    let server = start(Script::default()).await;
    let home = server.dir();
    std::fs::create_dir(format!("{home}/projects")).unwrap();
    let mut c = Client::connect(server.addr).await;
    let got = c.call("filesystem.getHome", json!({})).await;
    assert_eq!(got["homePath"], home.as_str());
    assert_eq!(
        got["suggestedPaths"],
        json!([
            {"name": "Home", "path": home, "exists": true},
            {"name": "Projects", "path": format!("{home}/projects"), "exists": true},
        ])
    );
}

#[tokio::test]
async fn create_dir_checks_names_and_reports_what_exists() {
    let server = start(Script::default()).await;
    let home = server.dir();
    let mut c = Client::connect(server.addr).await;
    let made = c.call("filesystem.createDir", json!({"path": format!("{home}/new")})).await;
    assert_eq!(made, json!({"created": true, "path": format!("{home}/new")}));
    assert!(std::path::Path::new(&format!("{home}/new")).is_dir());

    let e = c.fail("filesystem.createDir", json!({"path": format!("{home}/new")})).await;
    assert_eq!(e, json!({"code": "ALREADY_EXISTS", "message": "Directory already exists"}));
    let e = c.fail("filesystem.createDir", json!({"path": format!("{home}/a/b")})).await;
    assert_eq!(e, json!({"code": "FILE_NOT_FOUND", "message": "Parent directory does not exist"}));
    c.call("filesystem.createDir", json!({"path": format!("{home}/a/b"), "recursive": true})).await;
    for (path, message) in [
        (format!("{home}/../escape"), "Path traversal not allowed"),
        (format!("{home}/.secret"), "Hidden folders not allowed"),
        (format!("{home}/what?"), "Folder name contains invalid characters"),
        ("  ".to_owned(), "path is required"),
    ] {
        let e = c.fail("filesystem.createDir", json!({"path": path})).await;
        assert_eq!(e, json!({"code": "INVALID_PARAMS", "message": message}), "{path}");
    }
    assert!(!std::path::Path::new(&format!("{home}/.secret")).exists());
    let e = c.fail("filesystem.createDir", json!({})).await;
    assert_eq!(e, json!({"code": "INVALID_PARAMS", "message": "path is required"}));
}

#[tokio::test]
async fn file_read_stays_inside_home() {
    let server = start(Script::default()).await;
    let home = server.dir();
    std::fs::write(format!("{home}/notes.md"), "# Notes\n").unwrap();
    let mut c = Client::connect(server.addr).await;
    let got = c.call("file.read", json!({"path": format!("{home}/notes.md")})).await;
    assert_eq!(got, json!({"content": "# Notes\n"}));

    let e = c.fail("file.read", json!({"path": format!("{home}/missing.md")})).await;
    assert_eq!(e, json!({"code": "FILE_NOT_FOUND", "message": format!("File not found: {home}/missing.md")}));
    for outside in ["/etc/hostname".to_owned(), format!("{home}/../../etc/passwd")] {
        let e = c.fail("file.read", json!({"path": outside})).await;
        assert_eq!(e["code"], "PERMISSION_DENIED", "{outside}");
    }
    // A symlink inside home that points outside it is refused too.
    std::os::unix::fs::symlink("/etc/hostname", format!("{home}/link")).unwrap();
    let e = c.fail("file.read", json!({"path": format!("{home}/link")})).await;
    assert_eq!(e["code"], "PERMISSION_DENIED");
}
