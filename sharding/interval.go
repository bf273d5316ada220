package sharding

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// interval is a standard INTERVAL strategy: datetimes from datetimeLower to
// datetimeUpper cut into intervals of intervalAmount intervalUnits; a value
// routes to the candidate whose name ends in its interval's start printed
// with shardingSuffixPattern (ShardingSphere's INTERVAL algorithm).
type interval struct {
	// starts are the intervals' starts (microseconds since the epoch, UTC
	// wall clock), ascending; suffixes their names' endings.
	starts   []int64
	suffixes []string
	// end is datetimeUpper's microsecond: values past it route nowhere.
	end    int64
	layout string // datetimePattern as a Go layout
}

// maxIntervals bounds the intervals one strategy may cut its range into.
const maxIntervals = 100_000

// interval props, with ShardingSphere 5's spellings accepted beside ours.
var intervalProps = map[string]string{
	"datetime-lower":           "datetimeLower",
	"datetime-upper":           "datetimeUpper",
	"datetime-pattern":         "datetimePattern",
	"sharding-suffix-pattern":  "shardingSuffixPattern",
	"datetime-interval-amount": "intervalAmount",
	"datetime-interval-unit":   "intervalUnit",
}

func compileInterval(path string, props map[string]string) (*interval, error) {
	get := func(k string) string {
		if v, ok := props[k]; ok {
			return strings.TrimSpace(v)
		}
		for alt, ours := range intervalProps {
			if ours == k {
				return strings.TrimSpace(props[alt])
			}
		}
		return ""
	}
	path += ".standard.props."
	pattern := get("datetimePattern")
	if pattern == "" {
		pattern = "yyyy-MM-dd HH:mm:ss"
	}
	layout, err := javaLayout(pattern)
	if err != nil {
		return nil, fmt.Errorf("%sdatetimePattern: %w", path, err)
	}
	iv := &interval{layout: layout}
	lower, err := iv.parse(get("datetimeLower"))
	if err != nil {
		return nil, fmt.Errorf("%sdatetimeLower: %w", path, err)
	}
	upper, err := iv.parse(get("datetimeUpper"))
	if err != nil {
		return nil, fmt.Errorf("%sdatetimeUpper: %w", path, err)
	}
	if !upper.After(lower) {
		return nil, fmt.Errorf("%sdatetimeUpper: %s is not after datetimeLower %s", path, upper.Format(time.DateTime), lower.Format(time.DateTime))
	}
	sfx := get("shardingSuffixPattern")
	if sfx == "" {
		return nil, fmt.Errorf("%sshardingSuffixPattern: required for INTERVAL (e.g. yyyyMM)", path)
	}
	sfxLayout, err := javaLayout(sfx)
	if err != nil {
		return nil, fmt.Errorf("%sshardingSuffixPattern: %w", path, err)
	}
	amount := int64(1)
	if a := get("intervalAmount"); a != "" {
		if amount, err = strconv.ParseInt(a, 10, 32); err != nil || amount <= 0 {
			return nil, fmt.Errorf("%sintervalAmount: want a positive integer, got %q", path, a)
		}
	}
	step, err := intervalStep(get("intervalUnit"), int(amount))
	if err != nil {
		return nil, fmt.Errorf("%sintervalUnit: %w", path, err)
	}
	for t := lower; !t.After(upper); t = step(t) {
		if len(iv.starts) == maxIntervals {
			return nil, fmt.Errorf("%sintervalUnit: datetimeLower to datetimeUpper makes more than %d intervals", path, maxIntervals)
		}
		iv.starts = append(iv.starts, micros(t))
		iv.suffixes = append(iv.suffixes, t.Format(sfxLayout))
	}
	iv.end = micros(upper)
	return iv, nil
}

// intervalStep is the function that moves a time one interval on.
func intervalStep(unit string, n int) (func(time.Time) time.Time, error) {
	fixed := func(d time.Duration) func(time.Time) time.Time {
		return func(t time.Time) time.Time { return t.Add(time.Duration(n) * d) }
	}
	switch strings.TrimSuffix(strings.ToUpper(unit), "S") {
	case "SECOND":
		return fixed(time.Second), nil
	case "MINUTE":
		return fixed(time.Minute), nil
	case "HOUR":
		return fixed(time.Hour), nil
	case "DAY":
		return func(t time.Time) time.Time { return t.AddDate(0, 0, n) }, nil
	case "WEEK":
		return func(t time.Time) time.Time { return t.AddDate(0, 0, 7*n) }, nil
	case "MONTH":
		return func(t time.Time) time.Time { return t.AddDate(0, n, 0) }, nil
	case "YEAR":
		return func(t time.Time) time.Time { return t.AddDate(n, 0, 0) }, nil
	}
	return nil, fmt.Errorf("want SECONDS, MINUTES, HOURS, DAYS, WEEKS, MONTHS or YEARS, got %q", unit)
}

// javaLayout turns a Java DateTimeFormatter pattern of the letters
// ShardingSphere configs use (yyyy, yy, MM, dd, HH, mm, ss, SSS…) into a Go
// layout; other letters are refused, other characters kept.
func javaLayout(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		j := i
		for j < len(p) && p[j] == c {
			j++
		}
		n := j - i
		var out string
		switch {
		case c == 'y' && n == 4, c == 'u' && n == 4:
			out = "2006"
		case c == 'y' && n == 2, c == 'u' && n == 2:
			out = "06"
		case c == 'M' && n == 2:
			out = "01"
		case c == 'd' && n == 2:
			out = "02"
		case c == 'H' && n == 2:
			out = "15"
		case c == 'm' && n == 2:
			out = "04"
		case c == 's' && n == 2:
			out = "05"
		case c == 'S' && n <= 9:
			out = strings.Repeat("0", n)
			if b.Len() == 0 || !strings.HasSuffix(b.String(), ".") {
				return "", fmt.Errorf("%q: fractions of a second (S) must follow a '.'", p)
			}
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '\'':
			return "", fmt.Errorf("%q: %q is not a supported pattern (yyyy, yy, MM, dd, HH, mm, ss, .SSS)", p, p[i:j])
		default:
			out = p[i:j]
		}
		b.WriteString(out)
		i = j
	}
	return b.String(), nil
}

func micros(t time.Time) int64 { return t.Unix()*1_000_000 + int64(t.Nanosecond()/1000) }

// parse reads a datetime in the strategy's pattern or as MariaDB prints
// one ('2024-03-05', '2024-03-05 10:00:00[.ffffff]').
func (iv *interval) parse(s string) (time.Time, error) {
	if t, err := time.Parse(iv.layout, s); err == nil {
		return t, nil
	}
	for _, l := range []string{"2006-01-02 15:04:05.999999", "2006-01-02", "2006-01-02T15:04:05.999999"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a datetime", s)
}

// value is a sharding value's microsecond: a datetime string or a
// time.Time (its UTC wall clock, as go-sql-driver sends it by default).
func (iv *interval) value(x any) (int64, bool) {
	switch v := x.(type) {
	case time.Time:
		return micros(v.UTC()), true
	case string:
		t, err := iv.parse(v)
		return micros(t), err == nil
	}
	return 0, false
}

// index is the interval holding microsecond v; false: outside the range.
func (iv *interval) index(v int64) (int, bool) {
	if v < iv.starts[0] || v > iv.end {
		return 0, false
	}
	return sort.Search(len(iv.starts), func(i int) bool { return iv.starts[i] > v }) - 1, true
}

// pick is the candidate whose name ends in interval i's suffix.
func (iv *interval) pick(i int, candidates []string) (string, bool) {
	for _, c := range candidates {
		if strings.HasSuffix(c, iv.suffixes[i]) {
			return c, true
		}
	}
	return "", false
}
