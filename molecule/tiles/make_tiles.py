"""Make a small tile set and publish it as a split zip over HTTP on loopback.

Writes into OUT: tiles/<z>/<x>/<y>.png (incompressible bytes, so that the
zip really splits), a split archive (tiles.z01, tiles.z02, ..., tiles.zip),
and parts.json: the parts as tiles_archive_parts, with sha256 and a URL on
127.0.0.1:PORT. The HTTP server itself is started by prepare.yml.
"""

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path


def main(out: Path, port: int) -> None:
    rng = random.Random(42)
    tiles = out / "tiles"
    for z in range(3):
        for x in range(2**z):
            for y in range(2**z):
                tile = tiles / str(z) / str(x) / f"{y}.png"
                tile.parent.mkdir(parents=True, exist_ok=True)
                tile.write_bytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(9000))
    served = out / "served"
    served.mkdir(exist_ok=True)
    for old in served.glob("tiles.*"):
        old.unlink()
    subprocess.run(["zip", "-q", "-r", "-s", "64k", str(served / "tiles.zip"), "."], cwd=tiles, check=True)
    parts = [*sorted(served.glob("tiles.z[0-9]*")), served / "tiles.zip"]
    records = [
        {"url": f"http://127.0.0.1:{port}/{p.name}", "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in parts
    ]
    (out / "parts.json").write_text(json.dumps(records, indent=1))
    digests = {
        str(t.relative_to(tiles)): hashlib.sha256(t.read_bytes()).hexdigest() for t in sorted(tiles.rglob("*.png"))
    }
    (out / "tiles.json").write_text(json.dumps(digests, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
