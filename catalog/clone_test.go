package catalog

import (
	"reflect"
	"testing"
	"time"
)

// fillAll sets every field reachable from v to something that is not its zero value, so that a
// field added later is covered by TestCloneSharesNothing without anyone listing it.
func fillAll(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem(), depth+1)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fillAll(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fillAll(v.Index(i), depth+1)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillAll(k, depth+1)
		fillAll(e, depth+1)
		v.SetMapIndex(k, e)
	case reflect.Interface:
		// JSON-like values: a map holding a list holding a map.
		v.Set(reflect.ValueOf(map[string]any{"list": []any{map[string]any{"n": 1.0}, "x"}}))
	case reflect.String:
		v.SetString("s")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	}
}

// shared reports the first path at which a and b share memory (a pointer, a slice's array, a map).
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Map:
		if a.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		for _, k := range a.MapKeys() {
			if p := shared(a.MapIndex(k), b.MapIndex(k), path+"["+k.String()+"]"); p != "" {
				return p
			}
		}
	case reflect.Slice:
		if a.Len() == 0 {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		for i := 0; i < a.Len(); i++ {
			if p := shared(a.Index(i), b.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	case reflect.Interface:
		if a.IsNil() {
			return ""
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if a.Type().Field(i).IsExported() {
				if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

// A workflow hands clones to local activities, which run on goroutines of their own while the
// workflow goes on: a clone shares no slice, map or pointer with the state, whatever field it has.
func TestCloneSharesNothing(t *testing.T) {
	var r RequestState
	fillAll(reflect.ValueOf(&r).Elem(), 0)
	c := r.Clone()
	if !reflect.DeepEqual(r, c) {
		t.Fatalf("the clone differs from the state")
	}
	if p := shared(reflect.ValueOf(r), reflect.ValueOf(c), "RequestState"); p != "" {
		t.Errorf("the clone shares %s with the state", p)
	}
	var call Rendered
	fillAll(reflect.ValueOf(&call).Elem(), 0)
	if p := shared(reflect.ValueOf(call), reflect.ValueOf(call.Clone()), "Rendered"); p != "" {
		t.Errorf("the clone shares %s with the call", p)
	}
	// UTC alone is a shallow copy: it shares the form (why the workflow clones first).
	if p := shared(reflect.ValueOf(r), reflect.ValueOf(r.UTC()), "RequestState"); p == "" {
		t.Errorf("UTC shares nothing: the test no longer sees what it should")
	}
}
