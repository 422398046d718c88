package desk

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A person reads and sets their own reminders preference; nobody else's, an operator neither;
// a value other than immediate or digest is refused naming the field.
func TestPreferences(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob, oscar := f.person("alice"), f.person("bob"), f.person("oscar")
		got, err := f.desk.Preferences(ctx, alice, "")
		if err != nil || got.Reminders != "immediate" {
			t.Fatalf("alice's preferences: %+v %v", got, err)
		}
		if got, err = f.desk.SetPreferences(ctx, alice, "alice", Preferences{Reminders: "digest"}); err != nil || got.Reminders != "digest" {
			t.Fatalf("set alice's: %+v %v", got, err)
		}
		if how, _ := f.store.Reminders(ctx, "alice"); how != "digest" {
			t.Fatalf("the store says %q", how)
		}
		// Someone else's: not bob, not an operator.
		for _, who := range []Actor{bob, oscar} {
			_, err := f.desk.SetPreferences(ctx, who, "alice", Preferences{Reminders: "immediate"})
			wantKind(t, err, ErrForbidden)
			_, err = f.desk.Preferences(ctx, who, "alice")
			wantKind(t, err, ErrForbidden)
		}
		if how, _ := f.store.Reminders(ctx, "alice"); how != "digest" {
			t.Fatalf("someone else changed alice's preference to %q", how)
		}
		_, err = f.desk.SetPreferences(ctx, alice, "", Preferences{Reminders: "weekly"})
		wantKind(t, err, ErrInvalid)
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "/reminders" || ve.Fields[0].Rule != "enum" ||
			!strings.Contains(ve.Fields[0].Detail, "immediate") {
			t.Fatalf("the refusal names the field and the rule: %#v", err)
		}
		if how, _ := f.store.Reminders(ctx, "alice"); how != "digest" {
			t.Fatalf("a refused value changed the preference to %q", how)
		}
	})
}
