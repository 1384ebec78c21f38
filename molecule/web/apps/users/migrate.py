"""The users service's one-time step per release: create its table (run by the
web role as the app's user, before the release is switched in)."""

import os
import sqlite3

with sqlite3.connect(os.path.join(os.environ["GEOSTACK_STATE_DIR"], "users.db")) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY)")
    conn.execute("CREATE TABLE IF NOT EXISTS migrations (at TEXT DEFAULT CURRENT_TIMESTAMP)")
    conn.execute("INSERT INTO migrations DEFAULT VALUES")
print("users: schema ready")
