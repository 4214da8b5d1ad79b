package cli

import "testing"

func TestGCTuning(t *testing.T) {
	for _, tt := range []struct {
		name     string
		parallel int
		env      map[string]string
		percent  int
		limit    int64
		ok       bool
	}{
		{"default", 4, nil, 400, 260 << 20, true},
		{"high concurrency", 1024, nil, 400, 1280 << 20, true},
		{"no concurrency given", 0, nil, 400, 257 << 20, true},
		{"operator's GOGC", 4, map[string]string{"GOGC": "50"}, 0, 0, false},
		{"operator's GOGC off", 4, map[string]string{"GOGC": "off"}, 0, 0, false},
		{"operator's memory limit", 4, map[string]string{"GOMEMLIMIT": "1GiB"}, 400, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			percent, limit, ok := gcTuning(tt.parallel, func(k string) string { return tt.env[k] })
			if percent != tt.percent || limit != tt.limit || ok != tt.ok {
				t.Errorf("gcTuning(%d, %v) = %d, %d, %v; want %d, %d, %v", tt.parallel, tt.env, percent, limit, ok, tt.percent, tt.limit, tt.ok)
			}
		})
	}
}
