"""geostack reference app: serve map tiles from the tiles directory.

    GET /tiles/<z>/<x>/<y>.png   the tile, or 404
    GET /tiles/                  the zoom levels present
    GET /health                  200 with the directory's state

TILES_DIR (default /srv/geostack/tiles) holds <z>/<x>/<y>.png, as the tiles
role extracts it. Paths are built from integers only, so a request cannot
leave the directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, abort, jsonify, send_file

app = Flask(__name__)
TILES_DIR = Path(os.environ.get("TILES_DIR", "/srv/geostack/tiles"))


@app.get("/tiles/<int:z>/<int:x>/<int:y>.png")
def tile(z: int, x: int, y: int):
    if z > 30 or x >= 2**z or y >= 2**z:
        abort(404)
    path = TILES_DIR / str(z) / str(x) / f"{y}.png"
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype="image/png", max_age=3600, conditional=True)
    return response


@app.get("/tiles/")
def zoom_levels():
    levels = sorted(int(p.name) for p in TILES_DIR.iterdir() if p.is_dir() and p.name.isdigit()) if TILES_DIR.is_dir() else []
    return jsonify(tiles_dir=str(TILES_DIR), zoom_levels=levels)


@app.get("/health")
def health():
    return jsonify(status="ok", tiles_dir=str(TILES_DIR), tiles_dir_present=TILES_DIR.is_dir())
