package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newCompletionCmd prints cobra's shell completion script for the whole command tree.
// It replaces cobra's default completion command so that it follows the tree's rules
// (usage errors exit 2, output goes to the streams, the help has an example).
func newCompletionCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print the completion script for a shell to standard output.

bash: needs the bash-completion package. Load it in the current shell with
  source <(gows completion bash)
or for every session (Linux):
  gows completion bash > /etc/bash_completion.d/gows

zsh: if completion is not enabled yet, put "autoload -U compinit; compinit" in ~/.zshrc, then
  gows completion zsh > "${fpath[1]}/_gows"

fish:
  gows completion fish > ~/.config/fish/completions/gows.fish

Start a new shell for the change to take effect.`,
		Example: `  source <(gows completion bash)
  gows completion zsh > "${fpath[1]}/_gows"
  gows completion fish > ~/.config/fish/completions/gows.fish`,
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		Args:                  usageArgs(cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs)),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			var err error
			switch args[0] {
			case "bash":
				err = root.GenBashCompletionV2(s.out, true)
			case "zsh":
				err = root.GenZshCompletion(s.out)
			case "fish":
				err = root.GenFishCompletion(s.out, true)
			case "powershell":
				err = root.GenPowerShellCompletionWithDesc(s.out)
			}
			if err != nil {
				return fmt.Errorf("write %s completion: %w", args[0], err)
			}
			return nil
		},
	}
}

// completeOutput makes cmd's --output flag complete to formats instead of file names.
func completeOutput(cmd *cobra.Command, formats ...string) { completeValues(cmd, "output", formats...) }

// completeValues makes cmd's flag complete to values instead of file names.
func completeValues(cmd *cobra.Command, flag string, values ...string) {
	// It fails only for a command without that flag, or with it registered twice: a
	// mistake in this package that TestCompletion_FlagValues catches.
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}
