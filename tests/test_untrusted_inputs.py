"""Hostile records through the real cold_start_data stage (--input on a JSONL): every internal
address, forbidden scheme, over-cap download and over-cap header is a rejection with its reason,
counted in metrics.json; only 127.0.0.1 is contacted."""

import base64
import io
import json
import struct
import zlib
from collections import Counter
from pathlib import Path

from drawreason.schemas.records import rejection_from_dict
from PIL import Image

import run_pipeline
from tests.media_server import MediaServer, Route
from tests.realdata import correct_replies
from tests.scripted_server import ScriptedServer, assistant_turns


def _png(size: tuple[int, int] = (120, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 90, 150)).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    data = bytearray(_png((16, 16)))
    struct.pack_into(">2I", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _gif_with_a_huge_second_frame() -> bytes:
    head = b"GIF89a" + struct.pack("<2H", 1, 1) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"

    def frame(width: int, height: int) -> bytes:
        return b"\x2c" + struct.pack("<4H", 0, 0, width, height) + b"\x00\x02\x02\x44\x01\x00"

    return head + frame(1, 1) + frame(6000, 6000) + b"\x3b"


def _records(base_url: str) -> list[tuple[str, dict, str]]:
    data_uri = "data:image/png;base64," + base64.b64encode(_png((8, 8))).decode()
    unsafe = [
        ("Qmeta", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
        ("Qprivate", "http://10.0.0.8/a.png"),
        ("Qdecimal", "http://2852039166/latest/meta-data/"),  # 169.254.169.254
        ("Qhex", "http://0xa9fea9fe/latest/meta-data/"),
        ("Qmapped", "http://[::ffff:169.254.169.254]/latest/meta-data/"),
        ("Qfile", "file:///etc/passwd"),
        ("Qdata", data_uri),
        ("Qftp", "ftp://example.com/a.png"),
        ("Qredirect", f"{base_url}/redirect"),
    ]
    records = [("Qok", {"images": ["img/a.png"]}, "kept")]
    records += [(tag, {"images": [ref]}, "unsafe_path") for tag, ref in unsafe]
    records += [
        ("Qdownload", {"images": [f"{base_url}/big.png"]}, "media_too_large"),
        ("Qbomb", {"images": ["img/bomb.png"]}, "image_too_large"),
        ("Qgif", {"images": ["img/frames.gif"]}, "image_too_large"),
        ("Qplaylist", {"video": "video/clip.mp4"}, "video_unreadable"),
    ]
    return records


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_hostile_records_are_rejected_with_reasons_in_metrics(tmp_path):
    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    (data / "video").mkdir()
    (data / "img/a.png").write_bytes(_png())
    (data / "img/bomb.png").write_bytes(_png_claiming(20_000, 20_000))
    (data / "img/frames.gif").write_bytes(_gif_with_a_huge_second_frame())
    (data / "video/clip.mp4").write_bytes(b"#EXTM3U\n#EXTINF:1,\nhttp://169.254.169.254/a.ts\n")
    routes = {
        "/redirect": Route(status=302, headers={"Location": "http://169.254.169.254/latest/"}),
        "/big.png": Route(bytes(300_000)),
    }
    with MediaServer(routes) as media_server:
        records = _records(media_server.base_url)
        lines = [
            json.dumps(
                {
                    "id": tag,
                    "question": f"[{tag}] How many objects?",
                    "question_type": "numerical",
                    "answer": "2",
                    **fields,
                }
            )
            for tag, fields, _ in records
        ]
        (data / "qa.jsonl").write_text("\n".join(lines) + "\n")
        config = tmp_path / "config.json"
        media = {"max_input_pixels": 500_000, "max_bytes": 200_000, "allow_hosts": ["127.0.0.1"]}
        config.write_text(json.dumps({"mix": {"maze": 1.0}, "media": media}))
        out = tmp_path / "out"

        def script(messages):
            return correct_replies("2")[assistant_turns(messages)]

        with ScriptedServer(script) as teacher:
            argv = [
                "--stage",
                "cold_start_data",
                "--output",
                str(out),
                "--num-samples",
                "2",
                "--config",
                str(config),
                "--input",
                str(data / "qa.jsonl"),
                "--teacher",
                "openai",
                "--teacher-endpoint",
                teacher.base_url,
                "--teacher-model",
                "scripted-vlm",
            ]
            assert run_pipeline.main(argv) == 0
    # The loopback server was asked for the redirect and the download, nothing else; the
    # redirect's target was never contacted (it is not loopback, and nothing else answers).
    assert sorted({path for path, _ in media_server.requests}) == ["/big.png", "/redirect"]

    rejected = [rejection_from_dict(r) for r in _lines(out / "rejected/cold_start/qa.jsonl")]
    by_tag: dict[str, set[str]] = {}
    for record in rejected:
        by_tag.setdefault(record.sample_id.split("#")[0], set()).add(record.reason)
    expected = {tag: {outcome} for tag, _, outcome in records if outcome != "kept"}
    assert by_tag == expected
    details = {r.sample_id.split("#")[0]: r.detail for r in rejected}
    assert "the file: scheme is not allowed" in details["Qfile"]
    assert "the data: scheme is not allowed" in details["Qdata"]
    assert "the ftp: scheme is not allowed" in details["Qftp"]
    assert "redirected to" in details["Qredirect"] and "(link-local)" in details["Qredirect"]
    for tag in ("Qmeta", "Qdecimal", "Qhex", "Qmapped"):
        assert "(link-local)" in details[tag], tag
    kept = _lines(out / "sft/cold_start/qa.jsonl")
    assert {r["id"].split("#")[0] for r in kept} == {"Qok"}

    metrics = json.loads((out / "metrics.json").read_text())
    qa = metrics["subsets"]["qa"]
    per_record = len(rejected) // len(expected)  # trajectories each record stands for
    counts = Counter(outcome for _, _, outcome in records if outcome != "kept")
    assert qa["rejected"] == {reason: n * per_record for reason, n in counts.items()}
    assert qa["accounted"] and metrics["accounted"]
    assert qa["input"] == len(records) * per_record
