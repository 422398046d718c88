package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"github.com/esmhq/esm/store"
	"go.temporal.io/sdk/client"
)

// The terminal is a front door: it answers through desk what the person it acts for may see.
// Whoever runs it holds the database's credentials, so by default it acts for an operator (who
// sees every request); --as PERSON acts for someone in the directory, as their token would in
// the API.

// terminalOperator is the person the terminal acts for without --as.
var terminalOperator = catalog.Person{ID: "terminal", Name: "Operator at the terminal", Roles: []string{catalog.RoleOperator}}

// terminalWait bounds how long the terminal waits for a workflow to answer a Query (a third of
// it): without a worker, or without Temporal, it answers from the read model.
const terminalWait = 3 * time.Second

// withDesk opens the store, connects to Temporal lazily (the read model answers when Temporal
// does not) and runs fn with a desk and the person to act for.
func withDesk(ctx context.Context, cfg config, as string, fn func(d *desk.Desk, me desk.Actor) error) error {
	return withStore(ctx, cfg, false, func(s *store.Store) error {
		me := terminalOperator
		if as != "" {
			p, err := s.Person(ctx, as)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("--as %s: nobody of that id in the directory", as)
			}
			if err != nil {
				return err
			}
			me = p
		}
		tc, err := client.NewLazyClient(client.Options{HostPort: cfg.Temporal, Namespace: cfg.Namespace, Logger: quietLogger{},
			DataConverter: cfg.Codec.DataConverter(), ConnectionOptions: cfg.Connection})
		if err != nil {
			return err
		}
		defer tc.Close()
		d := desk.New(desk.Config{Store: s, Temporal: tc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WorkflowWait: terminalWait})
		return fn(d, me)
	})
}

// actingAs is the person --as names, "" when the flag is not given (the operator). A flag given
// empty (--as "", --as=, an unset variable in a script) is refused: it must never fall back to
// the operator's view, which shows more than the person could see.
func actingAs(fs *flag.FlagSet, as string) (string, error) {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "as" })
	if given && strings.TrimSpace(as) == "" {
		return "", errors.New("--as needs a person's id")
	}
	return as, nil
}

// parseInterleaved parses flags that may come after the arguments (esm show REQ-000042 --as bob)
// and returns the arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// listRequests pages through desk.Requests until limit rows or the last page.
func listRequests(ctx context.Context, d *desk.Desk, me desk.Actor, in desk.RequestsInput, limit int) ([]store.RequestRow, error) {
	var rows []store.RequestRow
	for len(rows) < limit {
		in.Limit = min(limit-len(rows), 100)
		page, err := d.Requests(ctx, me, in)
		if err != nil {
			return nil, err
		}
		rows = append(rows, page.Items...)
		if page.NextCursor == "" {
			break
		}
		in.Cursor = page.NextCursor
	}
	return rows, nil
}

// requestsCmd: esm requests [-status S] [-service S] [-limit N] [--as PERSON] lists requests,
// newest first: everyone's for the operator, a person's own with --as (as GET /v1/requests).
func requestsCmd(ctx context.Context, cfg config, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("requests", flag.ContinueOnError)
	status := fs.String("status", "", "only this status")
	service := fs.String("service", "", "only this service")
	limit := fs.Int("limit", 50, "at most this many")
	as := fs.String("as", "", "act for this person: their own requests")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return errors.New("usage: esm requests [-status S] [-service S] [-limit N] [--as PERSON]")
	}
	if *as, err = actingAs(fs, *as); err != nil {
		return err
	}
	return withDesk(ctx, cfg, *as, func(d *desk.Desk, me desk.Actor) error {
		rows, err := listRequests(ctx, d, me, desk.RequestsInput{Status: *status, Service: *service, Everyone: *as == ""}, *limit)
		if err != nil {
			return err
		}
		return printRows(out, rows)
	})
}

// breachesCmd: esm breaches [--as PERSON] lists open requests that missed their resolution
// target: everyone's for the operator, a person's own with --as.
func breachesCmd(ctx context.Context, cfg config, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("breaches", flag.ContinueOnError)
	as := fs.String("as", "", "act for this person: their own requests")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return errors.New("usage: esm breaches [--as PERSON]")
	}
	if *as, err = actingAs(fs, *as); err != nil {
		return err
	}
	return withDesk(ctx, cfg, *as, func(d *desk.Desk, me desk.Actor) error {
		rows, err := listRequests(ctx, d, me, desk.RequestsInput{Breached: true, Everyone: *as == ""}, 500)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			fmt.Fprintln(out, "no open request has breached its SLA")
			return nil
		}
		return printRows(out, rows)
	})
}

func printRows(out io.Writer, rows []store.RequestRow) error {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSERVICE\tREQUESTER\tSTATUS\tSTAGE\tPRIORITY\tDUE\tBREACHED\tESCALATION")
	for _, r := range rows {
		due := "-"
		if r.DueAt != nil {
			due = r.DueAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s v%d\t%s\t%s\t%s\t%s\t%s\t%v\t%d\n", r.ID, r.ServiceKey, r.ServiceVersion, r.RequesterID,
			r.Status, r.Stage, r.Priority, due, r.Breached, r.Escalation)
	}
	return w.Flush()
}

// showCmd: esm show REQ-000042 [--as PERSON] prints a request's state, SLA clocks and whole
// audit trail, as desk.Request answers it to the person (the operator by default): live from
// its workflow while it runs, from the read model once closed or when the workflow does not
// answer; a request the person may not see is not found.
func showCmd(ctx context.Context, cfg config, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	as := fs.String("as", "", "act for this person: what they may see")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("usage: esm show REQ-000042 [--as PERSON]")
	}
	if *as, err = actingAs(fs, *as); err != nil {
		return err
	}
	return withDesk(ctx, cfg, *as, func(d *desk.Desk, me desk.Actor) error {
		v, err := d.Request(ctx, me, desk.RequestInput{ID: rest[0]})
		if errors.Is(err, desk.ErrNotFound) {
			return fmt.Errorf("no request %s", rest[0])
		}
		if err != nil {
			return err
		}
		st := v.State
		fmt.Fprintf(out, "%s  %s v%d for %s (%s)\nstatus %s, stage %s, priority %s\n", st.ID, st.Service.Name, st.Service.Version,
			st.Requester.Name, st.Requester.ID, st.Status, st.Stage, st.Priority)
		if v.Stale {
			fmt.Fprintln(out, "(from the read model: the workflow did not answer)")
		}
		for _, c := range st.SLA {
			due := "-"
			if c.DueAt != nil {
				due = c.DueAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(out, "SLA %-10s target %s, spent %s, due %s, breached %v\n", c.Name, c.Target, c.Spent, due, c.Breached)
		}
		form, _ := json.Marshal(st.Form)
		fmt.Fprintf(out, "form %s\n\ntimeline:\n", form)
		for _, e := range st.Timeline {
			fmt.Fprintf(out, "  %3d %s %-26s %-8s %s\n", e.Seq, e.At.UTC().Format(time.RFC3339), e.Type, e.Actor, e.Detail)
		}
		return nil
	})
}
