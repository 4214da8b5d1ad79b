package testsvc

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// OwnMariaDB is a MariaDB server a test starts for itself, to stop and
// start it again (the database going away under a running backup). Its
// data directory is under t.TempDir(); it listens on a free port of the
// block tests may use (PortBase+150 to PortBase+299, see testenv/ports.sh).
type OwnMariaDB struct {
	t      testing.TB
	bin    string
	dir    string // datadir, socket, logs
	Port   int
	cmd    *exec.Cmd
	exited chan struct{}
	// DSN is the server's admin DSN (no database), over TCP.
	DSN string
}

const ownDBUser, ownDBPass = "mbtest", "mbtest-own-secret"

// StartOwnMariaDB installs a fresh MariaDB data directory (about 5 s) and
// starts a server on it; it is stopped when the test ends. mariadbd is
// taken from MEDIABACKUPS_TEST_MARIADB_BIN_DIR (written by testenv/up.sh),
// mariadb-install-db from there or PATH.
func StartOwnMariaDB(t testing.TB) *OwnMariaDB {
	t.Helper()
	binDir := Need(t, "MEDIABACKUPS_TEST_MARIADB_BIN_DIR")
	bin := filepath.Join(binDir, "mariadbd")
	install := filepath.Join(binDir, "mariadb-install-db")
	if _, err := os.Stat(install); err != nil {
		if install, err = exec.LookPath("mariadb-install-db"); err != nil {
			SkipOrFail(t, "mariadb-install-db not found in %s or PATH", binDir)
		}
	}
	o := &OwnMariaDB{t: t, bin: bin, dir: t.TempDir()}
	cmd := exec.Command(install, "--no-defaults", "--datadir="+o.datadir(), "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	base := PortBase(t)
	first := rand.IntN(150)
	for i := range 150 {
		port := base + 150 + (first+i)%150
		if !portFree(port) {
			continue
		}
		o.Port = port
		if o.start() {
			break
		}
		o.Port = 0
	}
	if o.Port == 0 {
		t.Fatalf("no free port for a MariaDB of the test's own in %d-%d", base+150, base+299)
	}
	t.Cleanup(o.Stop)
	o.setup()
	return o
}

func (o *OwnMariaDB) datadir() string { return filepath.Join(o.dir, "data") }
func (o *OwnMariaDB) socket() string  { return filepath.Join(o.dir, "mysqld.sock") }

func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// start runs mariadbd on o.Port and waits until it answers on its socket;
// false if it exited (the port was taken meanwhile).
func (o *OwnMariaDB) start() bool {
	o.t.Helper()
	logFile := filepath.Join(o.dir, "error.log")
	os.Remove(logFile)
	// The flags of testenv/up.sh, with smaller buffers: a throwaway server.
	o.cmd = exec.Command(o.bin, "--no-defaults", "--datadir="+o.datadir(), "--socket="+o.socket(),
		fmt.Sprintf("--port=%d", o.Port), "--bind-address=127.0.0.1", "--user=root",
		"--pid-file="+filepath.Join(o.dir, "mysqld.pid"), "--log-error="+logFile,
		"--skip-log-bin", "--skip-name-resolve", "--max-connections=200",
		"--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
		"--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=2", "--innodb-doublewrite=0")
	if err := o.cmd.Start(); err != nil {
		o.t.Fatalf("start mariadbd: %v", err)
	}
	o.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(o.cmd, o.exited)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-o.exited:
			b, _ := os.ReadFile(logFile)
			if strings.Contains(string(b), "Address already in use") {
				o.cmd = nil
				return false
			}
			o.t.Fatalf("mariadbd exited:\n%s", b)
		case <-time.After(100 * time.Millisecond):
		}
		if o.ping() == nil {
			return true
		}
	}
	o.Stop()
	b, _ := os.ReadFile(logFile)
	o.t.Fatalf("mariadbd on port %d did not answer within 60 s:\n%s", o.Port, b)
	return false
}

func (o *OwnMariaDB) ping() error {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "unix", o.socket()
	cfg.Timeout = time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// setup creates the test user, who may do everything, over TCP.
func (o *OwnMariaDB) setup() {
	o.t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "unix", o.socket()
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		o.t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", ownDBUser, ownDBPass),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO '%s'@'127.0.0.1'", ownDBUser),
	} {
		if _, err := db.Exec(q); err != nil {
			o.t.Fatalf("%s: %v", q, err)
		}
	}
	tcp := mysql.NewConfig()
	tcp.User, tcp.Passwd, tcp.Net, tcp.Addr = ownDBUser, ownDBPass, "tcp", fmt.Sprintf("127.0.0.1:%d", o.Port)
	o.DSN = tcp.FormatDSN()
}

// Database creates a database on the server and returns its DSN. It goes
// away with the server at the end of the test.
func (o *OwnMariaDB) Database() string {
	o.t.Helper()
	cfg, err := mysql.ParseDSN(o.DSN)
	if err != nil {
		o.t.Fatal(err)
	}
	db, err := sql.Open("mysql", o.DSN)
	if err != nil {
		o.t.Fatal(err)
	}
	defer db.Close()
	name := RandomName("mbtest_")
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		o.t.Fatalf("create database on the test's own MariaDB: %v", err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}

// Stop shuts the server down as an operator would (SIGTERM: open
// connections are closed) and waits for it to exit.
func (o *OwnMariaDB) Stop() {
	if o.cmd == nil || o.cmd.Process == nil {
		return
	}
	o.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-o.exited:
	case <-time.After(60 * time.Second):
		o.cmd.Process.Kill()
		<-o.exited
	}
	o.cmd = nil
}

// Start starts the stopped server again, on the same port and data, and
// waits until it answers.
func (o *OwnMariaDB) Start() {
	o.t.Helper()
	if o.cmd != nil {
		return
	}
	if !o.start() {
		o.t.Fatalf("mariadbd could not listen on port %d again", o.Port)
	}
}

// UseOwnMariaDB moves the deployment's metadata to a fresh database on
// own: its DSN and DB change; write the config again (WriteConfig)
// afterwards.
func (d *Deployment) UseOwnMariaDB(own *OwnMariaDB) {
	d.t.Helper()
	d.DSN = own.Database()
	db, err := sql.Open("mysql", d.DSN+"?parseTime=true")
	if err != nil {
		d.t.Fatal(err)
	}
	old := d.DB
	d.DB = db
	old.Close()
	d.t.Cleanup(func() { db.Close() })
}
