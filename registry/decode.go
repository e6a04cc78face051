package registry

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
)

// DecodeConfig decodes a backend's Options.Config (its section of the
// config file) into a C, strictly. It is the one config decoder of the
// module: the registry reads its config file with it, and every backend,
// in-tree or plugin, decodes its own section with it.
//
// Keys are matched to fields as encoding/json matches them (the json tag's
// name, else the field's name; exactly first, then ignoring case); nested
// structs, pointers to structs, slices and maps are decoded the same way,
// and time.Duration fields take a duration string such as "5s". An empty
// or null config leaves C zero.
//
// Every error is a *ConfigError whose Field is the dotted path of the
// offending key within the section ("relay.port", "servers[1].name", as
// the config file's errors name theirs); a key that matches no field has
// the cause ErrUnknownField, a value of the wrong type says what was
// wanted, a key given twice is refused, and a JSON syntax error gives its
// line and column within raw.
func DecodeConfig[C any](raw json.RawMessage) (C, error) {
	var c C
	var d decoder
	if err := d.value(raw, "", reflect.ValueOf(&c).Elem()); err != nil {
		return c, err
	}
	return c, nil
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decoder holds the key matching rule of one decoding. exact makes a key
// match only a field's JSON name as written (the registry's own config
// file, whose keys are all lower-case tags); otherwise keys match as in
// encoding/json.
type decoder struct {
	exact bool
}

// value decodes raw into v, which is settable; path names v.
func (d *decoder) value(raw json.RawMessage, path string, v reflect.Value) *ConfigError {
	fail := func(err error) *ConfigError { return &ConfigError{Field: path, Err: err} }
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil
	}
	t := v.Type()
	pt := reflect.PointerTo(t)
	switch {
	case t == durationType:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fail(fmt.Errorf("want a duration string such as \"5s\", got %s", trimmed))
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			return fail(err)
		}
		v.SetInt(int64(dur))
		return nil
	case pt.Implements(unmarshalerType) || pt.Implements(textType):
		return strict(raw, v, fail)
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return d.value(raw, path, v.Elem())
	case t.Kind() == reflect.Struct:
		return d.object(raw, path, v, fail)
	case t.Kind() == reflect.Slice && trimmed[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fail(err)
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			if err := d.value(item, path+"["+strconv.Itoa(i)+"]", s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && trimmed[0] == '{':
		var items map[string]json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return fail(err)
		}
		m := reflect.MakeMapWithSize(t, len(items))
		for k, item := range items {
			e := reflect.New(t.Elem()).Elem()
			if err := d.value(item, join(path, k), e); err != nil {
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
func strict(raw json.RawMessage, v reflect.Value, fail func(error) *ConfigError) *ConfigError {
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

// object decodes the JSON object raw into the struct v, key by key, so
// that every error can name its field.
func (d *decoder) object(raw json.RawMessage, path string, v reflect.Value, fail func(error) *ConfigError) *ConfigError {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return fail(syntax(raw, dec, err))
	}
	if tok != json.Delim('{') {
		return fail(fmt.Errorf("want a JSON object, got %.40s", bytes.TrimSpace(raw)))
	}
	fields := jsonFields(v.Type(), nil)
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail(syntax(raw, dec, err))
		}
		key, _ := tok.(string) // object keys are strings
		name := join(path, key)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return &ConfigError{Field: name, Err: syntax(raw, dec, err)}
		}
		f, ok := d.match(fields, key)
		if !ok {
			return &ConfigError{Field: name, Err: ErrUnknownField}
		}
		if seen[f.name] {
			return &ConfigError{Field: name, Err: errors.New("given twice")}
		}
		seen[f.name] = true
		if err := d.value(val, name, v.FieldByIndex(f.index)); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fail(syntax(raw, dec, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(errors.New("unexpected data after the JSON object"))
	}
	return nil
}

// syntax adds the line and column within raw to a JSON syntax error met
// while reading raw. Only the outermost object can hold one: every value
// below it was read whole by the enclosing object's json.Decoder, which
// checked its syntax. The end of the input becomes encoding/json's
// "unexpected end of JSON input".
func syntax(raw []byte, dec *json.Decoder, err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("unexpected end of JSON input")
	}
	off := dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	off = min(off, int64(len(raw)))
	line := 1 + bytes.Count(raw[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(raw[:off], '\n')
	return fmt.Errorf("line %d, column %d: %w", line, col, err)
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

// match finds key's field: the exact name first, then, unless d.exact,
// ignoring case.
func (d *decoder) match(fields []jsonField, key string) (jsonField, bool) {
	for _, f := range fields {
		if f.name == key {
			return f, true
		}
	}
	if d.exact {
		return jsonField{}, false
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
