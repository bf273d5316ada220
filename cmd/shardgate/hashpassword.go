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
	var sha2 bool
	cmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Print a user's passwordHash (MySQL's native hash, or --sha2) for the password read from standard input",
		Long: `Reads one line (the password) from standard input and prints its
mysql_native_password hash, as MySQL's PASSWORD() does, for users[].passwordHash:
the config then holds no password. With --sha2 it prints the
caching_sha2_password form ("sha2:" and SHA256(SHA256(password)) in hex), for
clients that log in with caching_sha2_password (MySQL 8 clients; others are
switched to it). Example:

    printf '%s' "$PW" | shardgate hash-password --sha2`,
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
			if sha2 {
				fmt.Println(config.SHA2Hash(pw))
			} else {
				fmt.Println(config.NativeHash(pw))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&sha2, "sha2", false, "print the caching_sha2_password form")
	rootCmd.AddCommand(cmd)
}
