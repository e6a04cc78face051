package plugins

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/transportkit/transportkit/registry"
)

// DecodeConfig decodes a backend's Options.Config (its section of the
// host's config file) into a C, strictly: keys are matched to fields as
// encoding/json matches them (the json tag's name, else the field's name,
// case-insensitively), nested structs, pointers to structs, slices and
// maps are decoded the same way, and time.Duration fields take a duration
// string such as "5s". An empty or null config leaves C zero.
//
// Every error is a *registry.ConfigError whose Field is the dotted path of
// the offending key within the section ("relay.port", "servers[1].name",
// as the host's config file errors name theirs); a key that matches no
// field has the cause registry.ErrUnknownField, a value of the wrong type
// says what was wanted, and a key given twice is refused.
func DecodeConfig[C any](raw json.RawMessage) (C, error) {
	var c C
	if err := decodeValue(raw, "", reflect.ValueOf(&c).Elem()); err != nil {
		return c, err
	}
	return c, nil
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decodeValue decodes raw into v, which is settable; path names v.
func decodeValue(raw json.RawMessage, path string, v reflect.Value) error {
	fail := func(err error) error { return &registry.ConfigError{Field: path, Err: err} }
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	t := v.Type()
	pt := reflect.PointerTo(t)
	switch {
	case t == durationType:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fail(fmt.Errorf("want a duration string such as \"5s\", got %s", raw))
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fail(err)
		}
		v.SetInt(int64(d))
		return nil
	case pt.Implements(unmarshalerType) || pt.Implements(textType):
		return strict(raw, v, fail)
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return decodeValue(raw, path, v.Elem())
	case t.Kind() == reflect.Struct:
		return decodeStruct(raw, path, v, fail)
	case t.Kind() == reflect.Slice && raw[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fail(err)
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			if err := decodeValue(item, path+"["+strconv.Itoa(i)+"]", s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && raw[0] == '{':
		var items map[string]json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fail(err)
		}
		m := reflect.MakeMapWithSize(t, len(items))
		for k, item := range items {
			e := reflect.New(t.Elem()).Elem()
			if err := decodeValue(item, join(path, k), e); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		v.Set(m)
		return nil
	}
	return strict(raw, v, fail)
}

// strict decodes raw into v with encoding/json, refusing unknown fields.
func strict(raw json.RawMessage, v reflect.Value, fail func(error) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Addr().Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fail(fmt.Errorf("want %s, got JSON %s", te.Type, te.Value))
		}
		return fail(err)
	}
	return nil
}

// decodeStruct decodes the JSON object raw into the struct v, key by key.
func decodeStruct(raw json.RawMessage, path string, v reflect.Value, fail func(error) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fail(fmt.Errorf("want a JSON object, got %.40s", raw))
	}
	fields := jsonFields(v.Type(), nil)
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		key, _ := tok.(string) // object keys are strings
		name := join(path, key)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return &registry.ConfigError{Field: name, Err: err}
		}
		f, ok := matchField(fields, key)
		if !ok {
			return &registry.ConfigError{Field: name, Err: registry.ErrUnknownField}
		}
		if seen[f.name] {
			return &registry.ConfigError{Field: name, Err: errors.New("given twice")}
		}
		seen[f.name] = true
		if err := decodeValue(val, name, v.FieldByIndex(f.index)); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fail(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(errors.New("unexpected data after the JSON object"))
	}
	return nil
}

// jsonField is a struct field as encoding/json sees it.
type jsonField struct {
	name  string
	index []int
}

// jsonFields lists t's fields under their JSON names: exported fields,
// named by their json tag or their own name, those tagged "-" left out,
// and the fields of embedded structs without a tag in their place.
func jsonFields(t reflect.Type, index []int) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		idx := append(append([]int(nil), index...), i)
		switch {
		case tag == "-":
		case f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct:
			out = append(out, jsonFields(f.Type, idx)...)
		case !f.IsExported():
		case tag != "":
			out = append(out, jsonField{tag, idx})
		default:
			out = append(out, jsonField{f.Name, idx})
		}
	}
	return out
}

// matchField finds key's field: the exact name first, then ignoring case.
func matchField(fields []jsonField, key string) (jsonField, bool) {
	for _, f := range fields {
		if f.name == key {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return f, true
		}
	}
	return jsonField{}, false
}

// join appends key to a dotted path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
