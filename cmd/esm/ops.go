package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/esmhq/esm/store"
)

// requestsCmd: esm requests [-status S] [-service S] [-limit N] lists requests, newest first.
func requestsCmd(ctx context.Context, cfg config, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("requests", flag.ContinueOnError)
	status := fs.String("status", "", "only this status")
	service := fs.String("service", "", "only this service")
	limit := fs.Int("limit", 50, "at most this many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return withStore(ctx, cfg, false, func(s *store.Store) error {
		rows, err := s.ListRequests(ctx, store.RequestFilter{Status: *status, Service: *service, Limit: *limit})
		if err != nil {
			return err
		}
		return printRows(out, rows)
	})
}

// breachesCmd: esm breaches lists open requests that missed their resolution target.
func breachesCmd(ctx context.Context, cfg config, out io.Writer) error {
	return withStore(ctx, cfg, false, func(s *store.Store) error {
		rows, err := s.ListRequests(ctx, store.RequestFilter{Breached: true, Limit: 500})
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

// showCmd: esm show REQ-000042 prints a request's state and audit trail from the read model.
func showCmd(ctx context.Context, cfg config, args []string, out io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: esm show REQ-000042")
	}
	return withStore(ctx, cfg, false, func(s *store.Store) error {
		st, err := s.Request(ctx, args[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no request %s", args[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s  %s v%d for %s (%s)\nstatus %s, stage %s, priority %s\n", st.ID, st.Service.Name, st.Service.Version,
			st.Requester.Name, st.Requester.ID, st.Status, st.Stage, st.Priority)
		for _, c := range st.SLA {
			due := "-"
			if c.DueAt != nil {
				due = c.DueAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(out, "SLA %-10s target %s, spent %s, due %s, breached %v\n", c.Name, c.Target, c.Spent, due, c.Breached)
		}
		form, _ := json.Marshal(st.Form)
		fmt.Fprintf(out, "form %s\n\ntimeline:\n", form)
		// The stored state keeps only the latest events (revision 4); the audit trail has all.
		trail, err := s.Events(ctx, st.ID)
		if err != nil {
			return err
		}
		st.MergeTimeline(trail)
		for _, e := range st.Timeline {
			fmt.Fprintf(out, "  %3d %s %-26s %-8s %s\n", e.Seq, e.At.UTC().Format(time.RFC3339), e.Type, e.Actor, e.Detail)
		}
		return nil
	})
}
