#!/usr/bin/env bash
# Start a MariaDB server on 127.0.0.1:3306 for the MySQL-marked tests (tests/djcodecs).
#
# Run as root on Debian/Ubuntu (CI does this before the tests when CI=true). Idempotent: installs
# mariadb-server only when no server binary is present, starts the server only when nothing answers on
# 127.0.0.1:3306, and (re)creates the test user every time.
#
# The tests discover the server by connecting to 127.0.0.1:3306 with these documented credentials
# (override with the same variables when running the tests against another server):
#   ZB_MYSQL_USER=zarrbridge  ZB_MYSQL_PASSWORD=zarrbridge-test
# The mysql-marked tests are skipped only when no server is reachable there.
set -euo pipefail

ZB_MYSQL_USER="${ZB_MYSQL_USER:-zarrbridge}"
ZB_MYSQL_PASSWORD="${ZB_MYSQL_PASSWORD:-zarrbridge-test}"

if [ "$(id -u)" -ne 0 ]; then
    echo "start_mariadb.sh: must run as root (it installs packages and starts a system service)" >&2
    exit 1
fi

have_server() { command -v mariadbd >/dev/null 2>&1 || command -v mysqld >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ]; }

if ! have_server; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends mariadb-server mariadb-client
fi

listening() { (exec 3<>/dev/tcp/127.0.0.1/3306) >/dev/null 2>&1; }

if ! listening; then
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld 2>/dev/null || true
    if [ ! -d /var/lib/mysql/mysql ]; then
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    fi
    # mysqld_safe works in containers without systemd; it daemonises and restarts the server if it dies
    nohup mysqld_safe --user=mysql --bind-address=127.0.0.1 --port=3306 >/var/log/zb-mariadb.log 2>&1 &
    for _ in $(seq 1 60); do
        listening && break
        sleep 1
    done
    if ! listening; then
        echo "start_mariadb.sh: MariaDB did not start; see /var/log/zb-mariadb.log and /var/log/mysql/" >&2
        exit 1
    fi
fi

# root connects through the unix socket (unix_socket auth, the Debian default)
for _ in $(seq 1 30); do
    mariadb -u root -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 1
done
mariadb -u root <<SQL
CREATE USER IF NOT EXISTS '${ZB_MYSQL_USER}'@'127.0.0.1' IDENTIFIED BY '${ZB_MYSQL_PASSWORD}';
CREATE USER IF NOT EXISTS '${ZB_MYSQL_USER}'@'localhost' IDENTIFIED BY '${ZB_MYSQL_PASSWORD}';
ALTER USER '${ZB_MYSQL_USER}'@'127.0.0.1' IDENTIFIED BY '${ZB_MYSQL_PASSWORD}';
ALTER USER '${ZB_MYSQL_USER}'@'localhost' IDENTIFIED BY '${ZB_MYSQL_PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO '${ZB_MYSQL_USER}'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '${ZB_MYSQL_USER}'@'localhost' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
echo "MariaDB is up on 127.0.0.1:3306 (user ${ZB_MYSQL_USER})"
