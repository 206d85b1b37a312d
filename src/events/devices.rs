//! Push-notification device tokens: the `device_tokens` table of migration 003, managed as
//! the TypeScript server's device adapter does.
//!
//! One row per `(device_token, platform)`; tron only registers `ios` tokens (64 hex
//! characters). Registering a known token updates its session, workspace and environment
//! and makes it active again; unregistering or a dead token (APNS `Unregistered`) makes it
//! inactive (the row stays). Must not: talk to APNS (platform/apns does) or know the wire.
//! Async code reaches these through [`StoreHandle::run`](super::StoreHandle::run).

use rusqlite::{params, OptionalExtension};

use super::{now_iso, EventStore, Result, StoreError};

/// A registration request (`device.register`'s params).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceRegistration {
    /// The APNS device token (64 hex characters).
    pub device_token: String,
    /// The session the app registered from.
    pub session_id: Option<String>,
    /// The workspace the app registered from.
    pub workspace_id: Option<String>,
    /// `sandbox` or `production` (`production` when absent).
    pub environment: Option<String>,
}

/// The outcome of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The row id (a UUID).
    pub id: String,
    /// Whether the token was new.
    pub created: bool,
}

/// A stored device token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceToken {
    /// The row id.
    pub id: String,
    /// The APNS device token.
    pub device_token: String,
    /// The session it was registered from.
    pub session_id: Option<String>,
    /// The workspace it was registered from.
    pub workspace_id: Option<String>,
    /// `ios`.
    pub platform: String,
    /// `sandbox` or `production`.
    pub environment: String,
    /// ISO time of the first registration.
    pub created_at: String,
    /// ISO time of the last registration.
    pub last_used_at: String,
    /// Whether notifications go to it.
    pub is_active: bool,
}

const PLATFORM: &str = "ios";
const COLUMNS: &str =
    "id, device_token, session_id, workspace_id, platform, environment, created_at, last_used_at, is_active";

/// Checks a token is 64 hex characters (the TypeScript server's message otherwise).
pub fn check_token(token: &str) -> Result<()> {
    if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(StoreError::Invalid("Invalid device token format: must be 64 hex characters".into()))
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceToken> {
    Ok(DeviceToken {
        id: r.get(0)?,
        device_token: r.get(1)?,
        session_id: r.get(2)?,
        workspace_id: r.get(3)?,
        platform: r.get(4)?,
        environment: r.get(5)?,
        created_at: r.get(6)?,
        last_used_at: r.get(7)?,
        is_active: r.get::<_, Option<i64>>(8)?.unwrap_or(1) == 1,
    })
}

impl EventStore {
    /// Registers a device token, or updates and reactivates a known one.
    pub fn register_device(&self, reg: &DeviceRegistration) -> Result<Registered> {
        check_token(&reg.device_token)?;
        let environment = reg.environment.as_deref().unwrap_or("production");
        if !matches!(environment, "sandbox" | "production") {
            return Err(StoreError::Invalid(format!(
                "environment must be \"sandbox\" or \"production\", not {environment:?}"
            )));
        }
        let empty_none = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let (session, workspace) = (empty_none(&reg.session_id), empty_none(&reg.workspace_id));
        self.write(|conn| {
            let now = now_iso();
            let existing: Option<String> = conn
                .query_row(
                    "SELECT id FROM device_tokens WHERE device_token = ?1 AND platform = ?2",
                    params![reg.device_token, PLATFORM],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = existing {
                conn.execute(
                    "UPDATE device_tokens SET session_id = ?1, workspace_id = ?2, environment = ?3,
                     last_used_at = ?4, is_active = 1 WHERE id = ?5",
                    params![session, workspace, environment, now, id],
                )?;
                return Ok(Registered { id, created: false });
            }
            let id = uuid::Uuid::new_v4().to_string();
            conn.execute(
                "INSERT INTO device_tokens (id, device_token, session_id, workspace_id, platform,
                 environment, created_at, last_used_at, is_active) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 1)",
                params![id, reg.device_token, session, workspace, PLATFORM, environment, now],
            )?;
            Ok(Registered { id, created: true })
        })
    }

    /// Deactivates a device token; whether there was one.
    pub fn unregister_device(&self, device_token: &str) -> Result<bool> {
        self.write(|conn| {
            Ok(conn
                .execute("UPDATE device_tokens SET is_active = 0 WHERE device_token = ?1", [device_token])?
                > 0)
        })
    }

    /// Every active device token (notifications go to all of them, as in the TypeScript
    /// server).
    pub fn active_devices(&self) -> Result<Vec<DeviceToken>> {
        self.devices_where("is_active = 1", &[])
    }

    /// The active device tokens registered from `session`.
    pub fn devices_for_session(&self, session: &str) -> Result<Vec<DeviceToken>> {
        self.devices_where("session_id = ?1 AND is_active = 1", &[&session])
    }

    /// The active device tokens registered from `workspace`.
    pub fn devices_for_workspace(&self, workspace: &str) -> Result<Vec<DeviceToken>> {
        self.devices_where("workspace_id = ?1 AND is_active = 1", &[&workspace])
    }

    /// Every row for `device_token`, active or not.
    pub fn device(&self, device_token: &str) -> Result<Option<DeviceToken>> {
        Ok(self.devices_where("device_token = ?1", &[&device_token])?.into_iter().next())
    }

    fn devices_where(&self, filter: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<DeviceToken>> {
        let sql = format!("SELECT {COLUMNS} FROM device_tokens WHERE {filter} ORDER BY rowid");
        let mut stmt = self.connection().prepare(&sql)?;
        let rows = stmt.query_map(args, row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::OpenMode;

    const TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

    fn store() -> (tempfile::TempDir, EventStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::open(dir.path().join("t.db"), OpenMode::Create).unwrap();
        (dir, store)
    }

    #[test]
    fn register_update_unregister() {
        let (_d, s) = store();
        let reg = DeviceRegistration { device_token: TOKEN.into(), ..Default::default() };
        let first = s.register_device(&reg).unwrap();
        assert!(first.created);
        let d = s.device(TOKEN).unwrap().unwrap();
        assert_eq!((d.platform.as_str(), d.environment.as_str(), d.is_active), ("ios", "production", true));
        assert!(s.unregister_device(TOKEN).unwrap());
        assert!(s.active_devices().unwrap().is_empty());
        let again =
            s.register_device(&DeviceRegistration { environment: Some("sandbox".into()), ..reg }).unwrap();
        assert_eq!(again, Registered { id: first.id, created: false });
        let d = s.device(TOKEN).unwrap().unwrap();
        assert_eq!((d.environment.as_str(), d.is_active), ("sandbox", true));
        assert!(!s.unregister_device(&"0".repeat(64)).unwrap());
    }

    #[test]
    fn bad_tokens_and_environments_change_nothing() {
        let (_d, s) = store();
        for bad in ["abc", &"g".repeat(64), &"a".repeat(65)] {
            let e = s
                .register_device(&DeviceRegistration { device_token: bad.into(), ..Default::default() })
                .unwrap_err();
            assert_eq!(e.to_string(), "Invalid device token format: must be 64 hex characters");
        }
        let e = s
            .register_device(&DeviceRegistration {
                device_token: TOKEN.into(),
                environment: Some("dev".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.to_string().contains("\"dev\""));
        assert!(s.device(TOKEN).unwrap().is_none());
    }
}
