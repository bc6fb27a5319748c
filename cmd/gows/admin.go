package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/spf13/cobra"

	"github.com/gows-dev/gows/internal/admin"
	"github.com/gows-dev/gows/internal/server/api"
)

// exitUnreachable is admin's exit code when no gows server answered at --server.
const exitUnreachable = 3

// adminSettings are the admin client settings that also come from the environment
// (GOWS_SERVER, GOWS_TOKEN). Defaults come from admin.Default().
func adminSettings() []setting {
	return []setting{
		{"server", "server", "base URL of a gows node's HTTP API"},
		{"token", "token", "admin token, sent as Authorization: Bearer"},
		{"cacert", "cacert", "PEM file of CA certificates to trust for an https --server, besides the system's (a private CA, or the node's self-signed certificate)"},
	}
}

// adminOptions is the parsed command line of one `gows admin` subcommand.
type adminOptions struct {
	action string       // the subcommand: users, online, push, broadcast, state, nodes or kick
	client admin.Config // --server and --token (flag > env > default), --timeout
	output string       // table or json

	appID   uint32
	user    string // online, kick: the argument; push: --user
	room    string // push: --room; users: --room
	text    string // push, broadcast: the message argument
	msgID   string
	from    string
	msgType string
	reason  string // kick
	limit   int    // users: ids per page; 0 means the server's default
	cursor  string // users: start after this id
	all     bool   // users: every page from cursor on
}

func newAdminCmd(s *streams, runF func(context.Context, *adminOptions) error) *cobra.Command {
	opts := &adminOptions{}
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Query and operate a running gows node or cluster through its HTTP API",
		Long: `Query and operate a running gows node (or, through any of its nodes, a cluster) with its
HTTP API: who is online, push to a user, a room or a whole app, kick a user, node state.

Results go to stdout: tables for people, or with -o json exactly the "data" the server
answered, for scripts. Messages go to stderr. Exit status: 0 success; 1 the server refused
or the target is not online (the server's message is printed); 2 a usage error; 3 no gows
server answered at --server (the address is printed).`,
		Example: `  gows admin users --app-id 101
  gows admin online u1 --app-id 101
  gows admin push --user u1 --app-id 101 "hello"
  gows admin state -o json | jq .connections
  GOWS_SERVER=http://10.0.0.5:8080 GOWS_TOKEN=... gows admin nodes`,
		Args:                       commandArgs,
		RunE:                       needCommand,
		SuggestionsMinimumDistance: 2, // as the root's
	}
	pf := cmd.PersistentFlags()
	addSettingFlags(pf, admin.Default(), adminSettings())
	pf.DurationVar(&opts.client.Timeout, "timeout", admin.Default().Timeout, "time limit for each request to the server; 0: none")
	pf.StringVarP(&opts.output, "output", "o", "table", "output format: table or json (the server's data)")
	completeOutput(cmd, "table", "json")

	// run finishes parsing for every subcommand and hands the options on.
	run := func(action string, check func() error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			opts.action = action
			if opts.output != "table" && opts.output != "json" {
				return usageErrorf("--output: want table or json, got %q", opts.output)
			}
			if check != nil {
				if err := check(); err != nil {
					return err
				}
			}
			timeout := opts.client.Timeout
			cfg, err := loadConfig(cmd.Flags(), "", admin.Default(), adminSettings())
			if err != nil {
				return err
			}
			cfg.Timeout = timeout
			opts.client = cfg
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runAdmin(cmd.Context(), s, opts)
		}
	}
	needApp := func() error {
		if opts.appID == 0 {
			return usageErrorf("--app-id is required")
		}
		return nil
	}
	appFlag := func(c *cobra.Command) {
		c.Flags().Uint32Var(&opts.appID, "app-id", 0, "app id (required)")
	}
	msgFlags := func(c *cobra.Command) {
		c.Flags().StringVar(&opts.msgID, "msg-id", "", "message id; a repeat within the server's dedup window is not delivered again (default: the server picks one)")
		c.Flags().StringVar(&opts.from, "from", "", "sender user id shown to recipients (default: none, a system message)")
		c.Flags().StringVar(&opts.msgType, "type", "", "message type (default: text)")
	}

	users := &cobra.Command{
		Use:   "users --app-id ID",
		Short: "List the online users of an app or a room, a page at a time",
		Long: `List the online users of an app (or of a room with --room), sorted by user id, one page
of --limit ids at a time. When more follow, stderr says which --cursor fetches the next
page; --all fetches every page in turn, printing each as it arrives, so that a million users
are never held at once. With -o json and --all, each page's data is one line.`,
		Example: `  gows admin users --app-id 101
  gows admin users --app-id 101 --limit 100 --cursor u0457
  gows admin users --app-id 101 --room lobby
  gows admin users --app-id 101 --all -o json | jq -r '.userList[]'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: run("users", func() error {
			if opts.all && opts.cursor != "" {
				return usageErrorf("--all starts at the first user; give --all or --cursor, not both")
			}
			return needApp()
		}),
	}
	appFlag(users)
	users.Flags().StringVar(&opts.room, "room", "", "list this room's members instead of the whole app")
	users.Flags().IntVar(&opts.limit, "limit", 0, "user ids per page, at most 10000 (default: the server's, 1000)")
	users.Flags().StringVar(&opts.cursor, "cursor", "", "start after this user id (the previous page's last)")
	users.Flags().BoolVar(&opts.all, "all", false, "fetch and print every page")

	online := &cobra.Command{
		Use:     "online USER --app-id ID",
		Short:   "Say whether a user is online, on which node and since when",
		Long:    "Say whether a user is online, on which node and since when. Exit status 1 when the user is not online.",
		Example: "  gows admin online u1 --app-id 101\n  gows admin online u1 --app-id 101 -o json",
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE:    run("online", needApp),
	}
	online.PreRun = func(_ *cobra.Command, args []string) { opts.user = args[0] }
	appFlag(online)

	push := &cobra.Command{
		Use:   "push (--user ID | --room ROOM) --app-id ID MESSAGE",
		Short: "Push a message to one user or to a room",
		Long: `Push a message to one user (--user) or to every member of a room (--room), and print its
message id and how many connections it was queued to. A user who is not online is exit
status 1. In a cluster, a room push that some nodes did not take in time still succeeds:
NODES FAILED counts them, and stderr warns that their users may not have the message.`,
		Example: `  gows admin push --user u1 --app-id 101 "hello"
  gows admin push --room lobby --app-id 101 --from ops "hi all"
  gows admin push --user u1 --app-id 101 --msg-id order-42 "your order shipped"`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: run("push", func() error {
			if (opts.user == "") == (opts.room == "") {
				return usageErrorf("give exactly one of --user and --room")
			}
			return needApp()
		}),
	}
	push.PreRun = func(_ *cobra.Command, args []string) { opts.text = args[0] }
	appFlag(push)
	push.Flags().StringVar(&opts.user, "user", "", "push to this user")
	push.Flags().StringVar(&opts.room, "room", "", "push to the members of this room")
	msgFlags(push)

	broadcast := &cobra.Command{
		Use:     "broadcast --app-id ID MESSAGE",
		Short:   "Push a message to every online user of an app",
		Example: `  gows admin broadcast --app-id 101 "maintenance in 5 minutes"`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE:    run("broadcast", needApp),
	}
	broadcast.PreRun = func(_ *cobra.Command, args []string) { opts.text = args[0] }
	appFlag(broadcast)
	msgFlags(broadcast)

	state := &cobra.Command{
		Use:     "state",
		Short:   "Show the node's connections, users, memory, uptime and version",
		Example: "  gows admin state\n  gows admin state -o json | jq .connections",
		Args:    noArgs,
		RunE:    run("state", nil),
	}

	nodes := &cobra.Command{
		Use:   "nodes",
		Short: "List the cluster's nodes (a single node lists itself)",
		Long: `List the cluster's live nodes (GET /system/nodes through any of them): uptime, connection
and user counts, resident memory, HTTP address and status. A node without a cluster lists
itself. The HTTP ADDR column is left out when no node reports an address.

STATUS is serving or draining, or "no answer" when the node is registered but did not
answer the node asked within its rpc_timeout: its figures are then from its last registry
renewal, and stderr says so. -o json prints the server's data, {"mode":"single" or
"redis","nodes":[...]}.`,
		Example: "  gows admin nodes\n  gows admin nodes -o json",
		Args:    noArgs,
		RunE:    run("nodes", nil),
	}

	kick := &cobra.Command{
		Use:   "kick USER --app-id ID",
		Short: "Close a user's connection, with a reason",
		Long: `Close a user's connection: the client gets a kickout message carrying --reason, then close
code 4007 (closed by an operator), after which well-behaved clients do not reconnect on
their own. A user who is not online is exit status 1.`,
		Example: `  gows admin kick u1 --app-id 101
  gows admin kick u1 --app-id 101 --reason "account suspended"`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: run("kick", needApp),
	}
	kick.PreRun = func(_ *cobra.Command, args []string) { opts.user = args[0] }
	appFlag(kick)
	kick.Flags().StringVar(&opts.reason, "reason", "", `reason shown to the client (default: the server's "closed by operator")`)

	cmd.AddCommand(users, online, push, broadcast, state, nodes, kick)
	return cmd
}

// runAdmin calls the HTTP API for opts.action and prints the result. Server refusals
// exit 1, bad input 2, an unreachable server 3.
func runAdmin(ctx context.Context, s *streams, opts *adminOptions) error {
	c, err := admin.New(opts.client)
	if err != nil {
		return adminError(err)
	}
	defer func() { _ = c.Close() }() // releases idle connections; cannot fail
	out := &adminOutput{w: s.out, json: opts.output == "json"}
	switch opts.action {
	case "users":
		err = adminUsers(ctx, s, c, out, opts)
	case "online":
		err = adminOnline(ctx, c, out, opts)
	case "push", "broadcast":
		err = adminPush(ctx, s, c, out, opts)
	case "state":
		err = adminState(ctx, c, out)
	case "nodes":
		err = adminNodes(ctx, s, c, out)
	case "kick":
		err = adminKick(ctx, c, out, opts)
	default:
		err = fmt.Errorf("unknown admin action %q", opts.action)
	}
	return adminError(err)
}

// adminError gives an admin client error its exit code.
func adminError(err error) error {
	if _, ok := errors.AsType[*admin.UnreachableError](err); ok {
		return withExitCode(exitUnreachable, err)
	}
	if _, ok := errors.AsType[*admin.InputError](err); ok {
		return withExitCode(exitUsage, err)
	}
	return err // nil, or exit 1: the server refused, or something else failed
}

func adminUsers(ctx context.Context, s *streams, c *admin.Client, out *adminOutput, opts *adminOptions) error {
	q := admin.UserQuery{AppID: opts.appID, Room: opts.room, Cursor: opts.cursor, Limit: opts.limit}
	where := fmt.Sprintf("app %d", opts.appID)
	if opts.room != "" {
		where = fmt.Sprintf("room %s of app %d", opts.room, opts.appID)
	}
	if !opts.all {
		p, err := c.Users(ctx, q)
		if err != nil {
			return err
		}
		if err := out.userPage(p, true); err != nil {
			return err
		}
		fmt.Fprintf(s.err, "%d of %d online users in %s", len(p.UserList), p.UserCount, where)
		if p.NextCursor != "" {
			fmt.Fprintf(s.err, "; next page: --cursor %s", p.NextCursor)
		}
		fmt.Fprintln(s.err)
		warnNodesFailed(s, p.NodesFailed)
		return nil
	}
	n, first, failed := 0, true, 0
	for p, err := range c.UserPages(ctx, q) {
		if err != nil {
			return err
		}
		if err := out.userPage(p, first); err != nil {
			return err
		}
		n, first, failed = n+len(p.UserList), false, max(failed, p.NodesFailed)
	}
	fmt.Fprintf(s.err, "%d online users in %s\n", n, where)
	warnNodesFailed(s, failed)
	return nil
}

// warnNodesFailed says that a room's list misses the members on nodes that did not answer.
func warnNodesFailed(s *streams, n int) {
	if n > 0 {
		fmt.Fprintf(s.err, "%d node(s) did not answer within the server's deadline: their members of the room are missing\n", n)
	}
}

func adminOnline(ctx context.Context, c *admin.Client, out *adminOutput, opts *adminOptions) error {
	p, err := c.Online(ctx, opts.appID, opts.user)
	if err != nil {
		return err
	}
	rows := [][2]string{{"USER", p.UserID}, {"APP", fmt.Sprint(p.AppID)}, {"ONLINE", yesNo(p.Online)}}
	if p.Online {
		since := p.LoginAt
		if t := p.LoginTime(); !t.IsZero() {
			since = fmt.Sprintf("%s (%s ago)", t.Format(time.RFC3339), time.Since(t).Round(time.Second))
		}
		rows = append(rows, [2]string{"NODE", p.NodeID}, [2]string{"ADDRESS", p.Addr}, [2]string{"SINCE", since})
		if p.Connections > 1 {
			// NODE, ADDRESS and SINCE are the newest connection's; say there are more.
			rows = append(rows, [2]string{"CONNECTIONS", fmt.Sprintf("%d on %s", p.Connections, strings.Join(p.Nodes, ", "))})
		}
	}
	if err := out.record(p.Raw(), rows); err != nil {
		return err
	}
	if !p.Online {
		return fmt.Errorf("user %s is not online in app %d", opts.user, opts.appID)
	}
	return nil
}

func adminPush(ctx context.Context, s *streams, c *admin.Client, out *adminOutput, opts *adminOptions) error {
	m := admin.Message{AppID: opts.appID, Text: opts.text, MsgID: opts.msgID, From: opts.from, Type: opts.msgType}
	var r admin.PushResult
	var err error
	switch {
	case opts.action == "broadcast":
		r, err = c.Broadcast(ctx, m)
	case opts.user != "":
		r, err = c.PushUser(ctx, opts.user, m)
	default:
		r, err = c.PushRoom(ctx, opts.room, m)
	}
	if err != nil {
		return err
	}
	rows := [][2]string{{"MSG ID", r.MsgID}, {"DELIVERED", fmt.Sprint(r.Delivered)}}
	if r.Duplicate {
		rows = append(rows, [2]string{"DUPLICATE", "yes"})
	}
	if r.NodesFailed > 0 {
		rows = append(rows, [2]string{"NODES FAILED", fmt.Sprint(r.NodesFailed)})
	}
	if err := out.record(r.Raw(), rows); err != nil {
		return err
	}
	if r.Duplicate {
		fmt.Fprintf(s.err, "message %s was already pushed within the server's dedup window; not delivered again\n", r.MsgID)
	}
	if r.NodesFailed > 0 {
		fmt.Fprintf(s.err, "%d node(s) did not take message %s within the server's deadline (its log names them); their users may not have it\n",
			r.NodesFailed, r.MsgID)
	}
	return nil
}

func adminKick(ctx context.Context, c *admin.Client, out *adminOutput, opts *adminOptions) error {
	r, err := c.Kick(ctx, opts.appID, opts.user, opts.reason)
	if err != nil {
		return err
	}
	return out.record(r.Raw(), [][2]string{{"USER", opts.user}, {"KICKED", fmt.Sprint(r.Kicked)}})
}

func adminState(ctx context.Context, c *admin.Client, out *adminOutput) error {
	st, err := c.State(ctx)
	if err != nil {
		return err
	}
	return out.record(st.Raw(), [][2]string{
		{"NODE", st.NodeID},
		{"VERSION", st.Version},
		{"STARTED", st.StartedAt},
		{"UPTIME", uptime(st.Uptime(time.Now()))},
		{"CONNECTIONS", fmt.Sprintf("%d of at most %d (%d handshaking)", st.Connections, st.MaxConns, st.Handshaking)},
		{"USERS", fmt.Sprint(st.Users)},
		{"ROOMS", fmt.Sprint(st.Rooms)},
		{"MEMORY", fmt.Sprintf("heap %s, rss %s", byteSize(st.HeapBytes), byteSize(st.RSSBytes))},
		{"GOROUTINES", fmt.Sprint(st.Goroutines)},
		{"MESSAGES", fmt.Sprintf("%d in, %d out", st.MessagesIn, st.MessagesOut)},
		{"PUSHES", fmt.Sprint(st.Pushes)},
		{"SLOW CLIENTS", fmt.Sprintf("%d closed, %d frames dropped", st.SlowConsumers, st.Dropped)},
		{"FAILED HANDSHAKES", fmt.Sprint(st.HandshakeFailures)},
		{"DRAINING", yesNo(st.Draining)},
		{"CLUSTER", clusterLine(st.Cluster)},
	})
}

// clusterLine is the state's CLUSTER row: "single node", or the nodes it routes to and
// whether Redis answers.
func clusterLine(c api.ClusterState) string {
	if c.Mode != "redis" {
		return "single node"
	}
	line := fmt.Sprintf("redis, %d nodes", c.Nodes)
	if c.Nodes == 1 {
		line = "redis, 1 node"
	}
	if c.RedisUp != nil && !*c.RedisUp {
		line += ", redis down"
	}
	return line
}

func adminNodes(ctx context.Context, s *streams, c *admin.Client, out *adminOutput) error {
	nl, err := c.Nodes(ctx)
	if err != nil {
		return err
	}
	if out.json {
		err = out.raw(nl.Raw())
	} else {
		err = out.nodeTable(nl.Nodes, time.Now())
	}
	if err != nil {
		return err
	}
	for _, n := range nl.Nodes {
		if !n.Live {
			fmt.Fprintf(s.err, "node %s did not answer in time; its figures are from its last registry renewal at %s\n", n.NodeID, dash(n.HeartbeatAt))
		}
	}
	return nil
}

// adminOutput writes results to stdout: the server's data as JSON, or aligned tables.
type adminOutput struct {
	w    io.Writer
	json bool
}

// raw writes data exactly as the server sent it, on one line.
func (o *adminOutput) raw(data []byte) error {
	if _, err := fmt.Fprintf(o.w, "%s\n", data); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// table writes rows with each column but the last padded to its widest cell plus two
// spaces. Widths are terminal columns, not bytes or runes: an East Asian wide character
// takes two, a combining mark none, so that node and user ids in any script line up.
func (o *adminOutput) table(rows [][]string) error {
	var widths []int
	for _, r := range rows {
		for i, cell := range r[:max(len(r)-1, 0)] {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], runewidth.StringWidth(cell))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, cell := range r {
			b.WriteString(cell)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-runewidth.StringWidth(cell)+2))
			}
		}
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(o.w, b.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// record prints one result: its raw data, or a two-column table of rows.
func (o *adminOutput) record(data []byte, rows [][2]string) error {
	if o.json {
		return o.raw(data)
	}
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = r[:]
	}
	return o.table(cells)
}

// nodeTable prints the nodes, one a row, with their uptimes at now. The HTTP ADDR column
// is left out when no node reports an address.
func (o *adminOutput) nodeTable(nodes []admin.Node, now time.Time) error {
	addrs := slices.ContainsFunc(nodes, func(n admin.Node) bool { return n.HTTPAddr != "" })
	var rows [][]string
	row := func(cells []string, addr, status string) {
		if addrs {
			cells = append(cells, addr)
		}
		rows = append(rows, append(cells, status))
	}
	row([]string{"NODE", "VERSION", "UPTIME", "CONNECTIONS", "USERS", "RSS"}, "HTTP ADDR", "STATUS")
	for _, n := range nodes {
		row([]string{n.NodeID, dash(n.Version), uptime(n.Uptime(now)), fmt.Sprint(n.Connections), fmt.Sprint(n.Users),
			byteSize(n.RSSBytes)}, dash(n.HTTPAddr), nodeStatus(n))
	}
	return o.table(rows)
}

// nodeStatus is a node's STATUS: serving or draining, and "no answer" when the figures
// are from its last registry renewal because it did not answer in time.
func nodeStatus(n admin.Node) string {
	switch {
	case n.Live && n.Draining:
		return "draining"
	case n.Live:
		return "serving"
	case n.Draining:
		return "draining, no answer"
	default:
		return "no answer"
	}
}

// userPage prints one page of user ids: its raw data, or one id per line after a header
// on the first page.
func (o *adminOutput) userPage(p admin.UserPage, first bool) error {
	if o.json {
		return o.raw(p.Raw())
	}
	var b strings.Builder
	if first {
		b.WriteString("USER\n")
	}
	for _, u := range p.UserList {
		b.WriteString(u)
		b.WriteByte('\n')
	}
	if _, err := io.WriteString(o.w, b.String()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// uptime shows an uptime rounded to the second; 0 is unknown.
func uptime(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(time.Second).String()
}

// byteSize shows n bytes in binary units; 0 is unknown.
func byteSize(n uint64) string {
	if n == 0 {
		return "-"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
