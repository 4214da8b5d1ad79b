package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// addProfileFlags adds the hidden --cpuprofile and --memprofile flags to cmd
// and wraps its RunE to write them: how `mediabackups bench --profile`
// profiles the backup it runs as a child.
func addProfileFlags(cmd *cobra.Command) {
	var cpu, mem string
	cmd.Flags().StringVar(&cpu, "cpuprofile", "", "write a CPU profile (pprof) to this file")
	cmd.Flags().StringVar(&mem, "memprofile", "", "write a heap profile (pprof) to this file at the end")
	cmd.Flags().MarkHidden("cpuprofile")
	cmd.Flags().MarkHidden("memprofile")
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) (err error) {
		if cpu != "" {
			f, err := os.Create(cpu)
			if err != nil {
				return fmt.Errorf("--cpuprofile: %w", err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return fmt.Errorf("--cpuprofile: %w", err)
			}
			defer pprof.StopCPUProfile()
		}
		err = run(c, args)
		if mem != "" {
			f, ferr := os.Create(mem)
			if ferr != nil {
				return fmt.Errorf("--memprofile: %w", ferr)
			}
			defer f.Close()
			runtime.GC()
			if ferr := pprof.Lookup("allocs").WriteTo(f, 0); ferr != nil {
				return fmt.Errorf("--memprofile: %w", ferr)
			}
		}
		return err
	}
}
