package main

// This file is the only user of viper. A command describes its settings with a table of
// setting rows; addSettingFlags registers one typed flag per row and loadConfig merges
// flags, GOWS_* environment variables, a YAML file and the package's Default() into the
// package's typed Config struct, naming the key in every error.

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// envPrefix starts every environment variable gows reads: key http_addr is
// GOWS_HTTP_ADDR.
const envPrefix = "GOWS_"

// configFileEnv names the config file when --config is not given.
const configFileEnv = envPrefix + "CONFIG"

// setting binds one configuration key to a flag and an environment variable. The key is
// the mapstructure tag of a field of the command's Config struct; the field's type picks
// the flag's type and the Config's Default() value is the flag's default.
type setting struct {
	key   string // config-file key, dotted for nested structs; env var: see envName
	flag  string // flag name, kebab-case
	usage string // one-line help; the env var is appended
}

// envName is the environment variable that sets key: cluster.redis_addr is
// GOWS_CLUSTER_REDIS_ADDR.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// configFile is the config file to read: the --config flag, else $GOWS_CONFIG, else ""
// (none).
func configFile(flagValue string) string {
	return cmp.Or(flagValue, os.Getenv(configFileEnv))
}

// addSettingFlags registers a flag for every row of table, typed like the Config field
// the row's key names and defaulting to that field's value in def (a Config struct).
// Lists become comma-separated string-list flags. Rows without a field are skipped here;
// loadConfig reports them.
func addSettingFlags(fs *pflag.FlagSet, def any, table []setting) {
	fs.SortFlags = false // keep the table's order: related settings stay together
	defs := reflect.ValueOf(def)
	for _, s := range table {
		f, ok := fieldByKey(defs, s.key)
		if !ok {
			continue
		}
		usage := fmt.Sprintf("%s [$%s]", s.usage, envName(s.key))
		switch v := f.Interface().(type) {
		case string:
			fs.String(s.flag, v, usage)
		case bool:
			fs.Bool(s.flag, v, usage)
		case int:
			if v == 0 {
				usage += " (default 0)" // pflag hides zero defaults; 0 has a meaning here
			}
			fs.Int(s.flag, v, usage)
		case time.Duration:
			fs.Duration(s.flag, v, usage)
		case []string:
			fs.StringSlice(s.flag, v, usage)
		default:
			if f.Kind() == reflect.Slice {
				items := make([]string, f.Len())
				for i := range items {
					items[i] = fmt.Sprint(f.Index(i).Interface())
				}
				fs.StringSlice(s.flag, items, usage)
				continue
			}
			fs.String(s.flag, fmt.Sprint(v), usage)
		}
	}
}

// loadConfig returns def overlaid, key by key, with the config file (if file is not
// ""), the environment and the flags in fs that were set, in rising precedence. It
// fails on unknown keys in the file and on values that do not parse, naming the key. It
// does not call Validate.
func loadConfig[C any](fs *pflag.FlagSet, file string, def C, table []setting) (C, error) {
	v := viper.New()
	if file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return def, fmt.Errorf("read config file %s: %w", file, err)
		}
		// Before anything else is bound, AllKeys lists exactly the file's keys.
		if err := checkKeys(v.AllKeys(), table); err != nil {
			return def, fmt.Errorf("config file %s: %w", file, err)
		}
	}

	cfg := def
	fields := reflect.ValueOf(&cfg).Elem()
	for _, s := range table {
		f, ok := fieldByKey(fields, s.key)
		if !ok {
			return def, fmt.Errorf("setting %s: %T has no field tagged mapstructure:%q", s.key, cfg, s.key)
		}
		if err := v.BindEnv(s.key, envName(s.key)); err != nil {
			return def, fmt.Errorf("bind %s: %w", envName(s.key), err)
		}
		if fl := fs.Lookup(s.flag); fl != nil {
			if err := v.BindPFlag(s.key, fl); err != nil {
				return def, fmt.Errorf("bind --%s: %w", s.flag, err)
			}
		}
		raw := v.Get(s.key)
		if raw == nil { // set nowhere (or null in the file): keep the default
			continue
		}
		if err := decodeValue(raw, f.Addr().Interface()); err != nil {
			err = fmt.Errorf("%s (from %s): %w", s.key, source(v, fs, s), err)
			if fl := fs.Lookup(s.flag); fl != nil && fl.Changed {
				err = withExitCode(exitUsage, err) // a bad flag value is a bad command line
			}
			return def, err
		}
		if f.Kind() == reflect.Slice && f.Len() == 0 {
			f.SetZero() // an empty list means the same as none; keep Default()'s nil
		}
	}
	return cfg, nil
}

// checkKeys reports the first key of a config file that no setting in table has.
func checkKeys(keys []string, table []setting) error {
	known := func(key string) bool {
		return slices.ContainsFunc(table, func(s setting) bool { return s.key == key })
	}
	slices.Sort(keys)
	for _, k := range keys {
		if known(k) {
			continue
		}
		// viper flattens maps to a.b; a map under a known key is a bad value.
		if head, _, ok := strings.Cut(k, "."); ok && known(head) {
			return fmt.Errorf("%s: want a single value or a list, got a map", head)
		}
		// A common slip is writing the flag's spelling in the file.
		for _, s := range table {
			if s.flag == k || s.key == strings.ReplaceAll(k, "-", "_") {
				return fmt.Errorf("unknown key %q; did you mean %q?", k, s.key)
			}
		}
		return fmt.Errorf("unknown key %q", k)
	}
	return nil
}

// source says where the value of s came from, for error messages.
func source(v *viper.Viper, fs *pflag.FlagSet, s setting) string {
	if fl := fs.Lookup(s.flag); fl != nil && fl.Changed {
		return "flag --" + s.flag
	}
	if os.Getenv(envName(s.key)) != "" { // viper ignores empty variables too
		return "$" + envName(s.key)
	}
	if v.InConfig(s.key) {
		return "config file"
	}
	return "default"
}

// hiddenSecret stands for a secret setting's value in settingsTree.
const hiddenSecret = "(hidden)"

// settingsTree returns the value of every setting of table in cfg, nested as in the
// config file (cluster.redis under cluster), durations written with their unit, the
// settings named in secrets replaced by hiddenSecret when set, and the password of a
// Redis URL hidden too.
func settingsTree(cfg any, table []setting, secrets []string) map[string]any {
	tree := map[string]any{}
	v := reflect.ValueOf(cfg)
	for _, s := range table {
		f, ok := fieldByKey(v, s.key)
		if !ok {
			continue
		}
		val := f.Interface()
		switch x := val.(type) {
		case time.Duration:
			val = x.String()
		case string:
			if u, err := url.Parse(x); err == nil && u.User != nil {
				if _, has := u.User.Password(); has {
					val = u.Redacted()
				}
			}
			if x != "" && slices.Contains(secrets, s.key) {
				val = hiddenSecret
			}
		}
		m := tree
		parts := strings.Split(s.key, ".")
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = val
	}
	return tree
}

// fieldByKey finds the field of struct value st whose mapstructure tag is key. A dotted
// key ("cluster.redis_addr") names a field of a nested struct field.
func fieldByKey(st reflect.Value, key string) (reflect.Value, bool) {
	head, rest, nested := strings.Cut(key, ".")
	t := st.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("mapstructure"), ",")
		if name != head {
			continue
		}
		if !nested {
			return st.Field(i), true
		}
		if st.Field(i).Kind() == reflect.Struct {
			return fieldByKey(st.Field(i), rest)
		}
	}
	return reflect.Value{}, false
}

// decodeValue stores raw (a YAML value, a string from the environment or a flag's value)
// into the field ptr points to. Strings convert to numbers and booleans, a comma-separated
// string becomes a list, and durations must be written with a unit ("10s"): a bare YAML
// number would otherwise mean nanoseconds.
func decodeValue(raw any, ptr any) error {
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.ComposeDecodeHookFunc(durationHook, listHook),
		WeaklyTypedInput: true,
		Result:           ptr,
	})
	if err != nil {
		return err
	}
	err = d.Decode(raw)
	// mapstructure's messages name Go types and hide the value; say what was expected
	// and what was found instead.
	if pe, ok := errors.AsType[*mapstructure.ParseError](err); ok {
		if errors.Is(pe.Err, strconv.ErrRange) {
			return fmt.Errorf("%v is out of range for %s", pe.Value, pe.Expected.Type())
		}
		return fmt.Errorf("want %s, got %q", describeType(pe.Expected.Type()), fmt.Sprint(pe.Value))
	}
	if ue, ok := errors.AsType[*mapstructure.UnconvertibleTypeError](err); ok {
		return fmt.Errorf("want %s, got %v", describeType(ue.Expected.Type()), ue.Value)
	}
	if de, ok := errors.AsType[*mapstructure.DecodeError](err); ok {
		return de.Unwrap() // a hook's error; the field name mapstructure adds is empty
	}
	return err
}

// describeType names the kind of value t holds for error messages.
func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	default:
		return t.String()
	}
}

// durationHook parses durations from strings only, so that a unit is always written.
func durationHook(_, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	switch v := data.(type) {
	case time.Duration:
		return v, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("want a duration such as \"10s\" or \"6m\", got %q", v)
		}
		return d, nil
	default:
		return nil, fmt.Errorf("want a duration with a unit such as \"10s\" or \"6m\", got %v", v)
	}
}

// listHook splits "a, b" into ["a" "b"] for list fields; an empty string is an empty list.
func listHook(_, to reflect.Type, data any) (any, error) {
	str, ok := data.(string)
	if !ok || to.Kind() != reflect.Slice {
		return data, nil
	}
	items := []string{}
	for item := range strings.SplitSeq(str, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items, nil
}
