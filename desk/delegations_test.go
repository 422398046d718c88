package desk

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestDelegateNamesake: the delegate is named by user name, or by a name as the directory
// spells it (any case) that exactly one person has; a name two people share names neither (the
// error on /delegate lists their user names), never the first of them in the directory:
// approvals must not go to a namesake. The out-of-office page's names and suggestions come from
// the desk too (OutOfOffice), the actor not among whom to name. On each database.
func TestDelegateNamesake(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for _, id := range []string{"sam.lee", "sam.lee2"} {
			if _, err := f.store.DB.ExecContext(ctx, f.store.DB.Rebind(`INSERT INTO people (id, name, email, department, manager, roles, attributes)
				VALUES (?, 'Sam Lee', '', 'engineering', '', '[]', '{}')`), id); err != nil {
				t.Fatal(err)
			}
		}
		alice := f.person("alice")
		until := time.Now().Add(24 * time.Hour)
		for typed, want := range map[string]string{"bob": "bob", " Bob Ruiz ": "bob", "erin park": "erin", "sam.lee2": "sam.lee2"} {
			d, err := f.desk.Delegate(ctx, alice, DelegateInput{Delegate: typed, EndsAt: until})
			if err != nil || d.Delegate != want {
				t.Fatalf("%q: %+v %v, want %s", typed, d, err, want)
			}
		}
		for typed, rule := range map[string]string{"Sam Lee": "ambiguous", "sam lee": "ambiguous", "nobody": "reference", "": "required", "Alice Chen": "not"} {
			_, err := f.desk.Delegate(ctx, alice, DelegateInput{Delegate: typed, EndsAt: until})
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "/delegate" || ve.Fields[0].Rule != rule {
				t.Fatalf("%q: %#v, want %s on /delegate", typed, err, rule)
			}
			if rule == "ambiguous" && !strings.Contains(ve.Fields[0].Detail, "(sam.lee, sam.lee2)") {
				t.Fatalf("%q: the error does not list whom to choose from: %s", typed, ve.Fields[0].Detail)
			}
		}
		page, err := f.desk.OutOfOffice(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Gave) != 4 || len(page.Hold) != 0 || page.Names["sam.lee2"] != "Sam Lee" || page.Names["bob"] != "Bob Ruiz" {
			t.Fatalf("alice's page: %+v", page)
		}
		for _, who := range page.People {
			if who.ID == "alice" {
				t.Fatal("alice is offered as her own delegate")
			}
		}
		if bobs, _ := f.desk.OutOfOffice(ctx, f.person("bob")); len(bobs.Hold) != 2 || bobs.Hold[0].Person != "alice" {
			t.Fatalf("bob's page: %+v", bobs)
		}
	})
}
