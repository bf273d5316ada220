package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shardgate/shardgate/config"
)

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:   "hash-password",
		Short: "Print a user's passwordHash (MySQL's native hash) for the password read from standard input",
		Long: `Reads one line (the password) from standard input and prints its
mysql_native_password hash, as MySQL's PASSWORD() does, for users[].passwordHash:
the config then holds no password. Example:

    printf '%s' "$PW" | shardgate hash-password`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("hash-password: read the password from standard input: %w", err)
			}
			pw := strings.TrimRight(line, "\r\n")
			if pw == "" {
				return fmt.Errorf("hash-password: the password is empty")
			}
			fmt.Println(config.NativeHash(pw))
			return nil
		},
	})
}
