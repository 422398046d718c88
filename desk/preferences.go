package desk

import (
	"context"
	"errors"
	"fmt"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
)

// Preferences are how a person wants to hear from ESM (docs/NOTIFICATIONS.md, "Daily digest").
type Preferences struct {
	// Reminders is catalog.RemindersImmediate ("immediate": each reminder by mail as it comes,
	// inside the department's working hours) or catalog.RemindersDigest ("digest": one mail a
	// day with them all, at the department's opening).
	Reminders string `json:"reminders"`
}

// Preferences returns the preferences of person ("" is the actor). The rule that each person
// reads and sets only their own is here: anyone else's is ErrForbidden, operators included
// (the directory's YAML is where an administrator sets them). ErrNotFound: the person is not
// in the directory.
func (d *Desk) Preferences(ctx context.Context, me Actor, person string) (Preferences, error) {
	person, err := ownPreferences(me, person)
	if err != nil {
		return Preferences{}, err
	}
	how, err := d.store.Reminders(ctx, person)
	if errors.Is(err, store.ErrNotFound) {
		return Preferences{}, notFound("%s is not in the directory", person)
	}
	if err != nil {
		return Preferences{}, fmt.Errorf("preferences of %s: %w", person, err)
	}
	return Preferences{Reminders: how}, nil
}

// SetPreferences sets the preferences of person ("" is the actor) and returns them. Rules as
// Preferences; a Reminders other than immediate or digest is a *ValidationError on
// /reminders (rule enum). A `reminders:` in the directory's YAML sets it again on the next
// apply; a person without one there keeps what they set here.
func (d *Desk) SetPreferences(ctx context.Context, me Actor, person string, in Preferences) (Preferences, error) {
	person, err := ownPreferences(me, person)
	if err != nil {
		return Preferences{}, err
	}
	if in.Reminders != catalog.RemindersImmediate && in.Reminders != catalog.RemindersDigest {
		return Preferences{}, invalid("the preferences are not valid", catalog.FieldError{Field: "/reminders", Rule: "enum",
			Detail: fmt.Sprintf("reminders are %s (each as it comes) or %s (one a day at opening time), not %q",
				catalog.RemindersImmediate, catalog.RemindersDigest, in.Reminders)})
	}
	err = d.store.SetReminders(ctx, person, in.Reminders)
	if errors.Is(err, store.ErrNotFound) {
		return Preferences{}, notFound("%s is not in the directory", person)
	}
	if err != nil {
		return Preferences{}, fmt.Errorf("preferences of %s: %w", person, err)
	}
	return Preferences{Reminders: in.Reminders}, nil
}

// ownPreferences is the rule: a person's preferences are theirs alone.
func ownPreferences(me Actor, person string) (string, error) {
	if person == "" {
		person = me.ID
	}
	if me.ID == "" || person != me.ID {
		return "", forbidden("you may read and change only your own preferences")
	}
	return person, nil
}
