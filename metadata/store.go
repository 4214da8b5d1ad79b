// Package metadata is the MariaDB store of what production has and what the
// backups hold: wikis, file versions, stored objects, their locations and the
// history of every change.
//
// Every method takes a context first and returns errors that say what was
// being done. Hashes cross this API as lower-case hex strings and are stored
// as raw bytes; dates are UTC.
package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	sqlschema "github.com/mediabackups/mediabackups/sql"
)

// ErrSchemaOutdated means the database schema is older than this binary.
var ErrSchemaOutdated = errors.New("the metadata schema is not up to date: run `mediabackups schema apply`")

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Store is a MariaDB metadata store. It is safe for concurrent use.
type Store struct {
	db *sql.DB
}

// Open connects to the MariaDB database named in dsn (go-sql-driver form)
// and checks that it answers. Sessions use UTC and binary comparisons.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse metadata DSN: %w", err)
	}
	return OpenConfig(ctx, cfg)
}

// OpenConfig is Open with an already parsed driver configuration.
func OpenConfig(ctx context.Context, cfg *mysql.Config) (*Store, error) {
	cfg = cfg.Clone()
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.MultiStatements = false
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata connector: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxLifetime(30 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to MariaDB %s as %s: %w", cfg.Addr, cfg.User, err)
	}
	return &Store{db: db}, nil
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.db.Close() }

// DB returns the underlying pool, for tests and benchmarks.
func (s *Store) DB() *sql.DB { return s.db }

const migrationLock = "mediabackups_schema"

// Migrate applies every embedded migration that the database does not have
// yet, in order, and returns the names of those it applied. Concurrent calls
// are serialised with a named lock; applying an up-to-date schema does nothing.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	ms, err := sqlschema.Migrations()
	if err != nil {
		return nil, err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", migrationLock).Scan(&got); err != nil || got.Int64 != 1 {
		return nil, fmt.Errorf("migrate: take lock %s: another `schema apply` holds it (%v)", migrationLock, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", migrationLock)

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INT UNSIGNED NOT NULL PRIMARY KEY,
		name VARBINARY(255) NOT NULL,
		applied_at DATETIME NOT NULL
	) ENGINE=InnoDB DEFAULT CHARSET=binary`); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: read applied versions: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	var done []string
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		for i, stmt := range m.Statements {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return done, fmt.Errorf("migration %04d_%s, statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP())", m.Version, m.Name); err != nil {
			return done, fmt.Errorf("migration %04d_%s: record it: %w", m.Version, m.Name, err)
		}
		done = append(done, fmt.Sprintf("%04d_%s", m.Version, m.Name))
	}
	return done, nil
}

// CheckSchema returns ErrSchemaOutdated unless every embedded migration has
// been applied. It compares the versions one by one, not only the highest:
// migration numbers are handed out ahead of time, so a lower one can land
// after a higher one was applied, and must still be asked for.
func (s *Store) CheckSchema(ctx context.Context) error {
	ms, err := sqlschema.Migrations()
	if err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT version FROM schema_migrations")
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 { // table doesn't exist
		return ErrSchemaOutdated
	}
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	defer rows.Close()
	have := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		have[v] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	var missing []string
	for _, m := range ms {
		if !have[m.Version] {
			missing = append(missing, fmt.Sprintf("%04d_%s", m.Version, m.Name))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w (the database lacks %s)", ErrSchemaOutdated, strings.Join(missing, ", "))
	}
	return nil
}

// EnsureWiki returns the id of the wiki called name, creating it with typ
// when it is new and updating its type when it changed.
func (s *Store) EnsureWiki(ctx context.Context, name, typ string) (int64, error) {
	if _, err := s.db.ExecContext(ctx,
		"INSERT INTO wikis (name, type) VALUES (?, ?) ON DUPLICATE KEY UPDATE type = VALUES(type)", name, typ); err != nil {
		return 0, fmt.Errorf("register wiki %s: %w", name, err)
	}
	return s.WikiID(ctx, name)
}

// LocationID returns the id of the location with endpoint, or an error
// wrapping ErrNotFound when nothing was ever stored there.
func (s *Store) LocationID(ctx context.Context, endpoint string) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM locations WHERE endpoint = ?`, endpoint).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("location %s: %w", endpoint, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("look up location %s: %w", endpoint, err)
	}
	return id, nil
}

// WikiID returns the id of a known wiki, or ErrNotFound.
func (s *Store) WikiID(ctx context.Context, name string) (int64, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, "SELECT id FROM wikis WHERE name = ?", name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("wiki %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("look up wiki %s: %w", name, err)
	}
	return id, nil
}

// Wikis returns the names of every wiki in the metadata.
func (s *Store) Wikis(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT name FROM wikis ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list wikis: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list wikis: %w", err)
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// EnsureLocation returns the id of the location with endpoint, creating it.
func (s *Store) EnsureLocation(ctx context.Context, endpoint string) (int64, error) {
	if _, err := s.db.ExecContext(ctx, "INSERT IGNORE INTO locations (endpoint) VALUES (?)", endpoint); err != nil {
		return 0, fmt.Errorf("register location %s: %w", endpoint, err)
	}
	var id int64
	if err := s.db.QueryRowContext(ctx, "SELECT id FROM locations WHERE endpoint = ?", endpoint).Scan(&id); err != nil {
		return 0, fmt.Errorf("look up location %s: %w", endpoint, err)
	}
	return id, nil
}
