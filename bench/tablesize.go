package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"sort"
	"strings"
)

// TableSize is the size of one table on disk, as InnoDB reports it after
// ANALYZE TABLE (information_schema.TABLES and mysql.innodb_index_stats).
type TableSize struct {
	Table    string  `json:"table"`
	Rows     int64   `json:"rows"` // the exact count, not InnoDB's estimate
	DataMiB  float64 `json:"data_mib"`
	IndexMiB float64 `json:"index_mib"` // secondary indexes
	// Indexes is the size of each index in MiB; PRIMARY is the clustered
	// index, which holds the rows (DataMiB).
	Indexes map[string]float64 `json:"indexes_mib,omitempty"`
}

// PerMillion returns data and index MiB per million rows.
func (t TableSize) PerMillion() (data, index float64) {
	if t.Rows == 0 {
		return 0, 0
	}
	m := float64(t.Rows) / 1e6
	return t.DataMiB / m, t.IndexMiB / m
}

// tableSizes measures tables of the database db is connected to.
func tableSizes(ctx context.Context, db *sql.DB, tables ...string) ([]TableSize, error) {
	var out []TableSize
	for _, t := range tables {
		if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+t); err != nil {
			return nil, fmt.Errorf("analyze %s: %w", t, err)
		}
		ts := TableSize{Table: t, Indexes: map[string]float64{}}
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t).Scan(&ts.Rows); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		var data, index int64
		if err := db.QueryRowContext(ctx, `SELECT DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES
			WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, t).Scan(&data, &index); err != nil {
			return nil, fmt.Errorf("size of %s: %w", t, err)
		}
		ts.DataMiB, ts.IndexMiB = float64(data)/(1<<20), float64(index)/(1<<20)
		// Per index: optional (needs read access to the mysql schema).
		rows, err := db.QueryContext(ctx, `SELECT index_name, stat_value * @@innodb_page_size FROM mysql.innodb_index_stats
			WHERE database_name = DATABASE() AND table_name = ? AND stat_name = 'size'`, t)
		if err == nil {
			for rows.Next() {
				var name string
				var bytes float64
				if rows.Scan(&name, &bytes) == nil {
					ts.Indexes[name] = bytes / (1 << 20)
				}
			}
			rows.Close()
		}
		out = append(out, ts)
	}
	return out, nil
}

// writeTableSizes writes the sizes as a Markdown table, per million rows.
func writeTableSizes(w io.Writer, sizes []TableSize) {
	fmt.Fprintln(w, "| table | rows | data MiB | index MiB | data MiB per M rows | index MiB per M rows | indexes (MiB) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, t := range sizes {
		d, i := t.PerMillion()
		var names []string
		for n := range t.Indexes {
			if n != "PRIMARY" {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		var idx []string
		for _, n := range names {
			idx = append(idx, fmt.Sprintf("%s %.0f", n, t.Indexes[n]))
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %.0f | %.0f | %s |\n", t.Table, t.Rows, t.DataMiB, t.IndexMiB, d, i, strings.Join(idx, ", "))
	}
}
