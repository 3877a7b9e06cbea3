package herald

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of a subscriber CSV file when the caller does not set them.
const (
	DefaultCSVMaxRows      = 100_000
	DefaultCSVMaxLineBytes = 8 << 10
)

const csvReportAddressRunes = 100 // how much of a refused address the report keeps

// csvColumns are the header's names in the order the export writes them.
var csvColumns = []string{"channel", "address", "components", "owner_email"}

const (
	csvColChannel = iota
	csvColAddress
	csvColComponents
	csvColOwner
)

// csvPhonePattern is the sign-up form's E.164 pattern (NormalizePhone).
var csvPhonePattern = e164

// CSVSubscriber is one accepted line of a subscriber CSV file, normalised:
// Channel is "email", "sms" or "webhook"; Address is the lower-case email,
// the E.164 phone number or the webhook URL; Components holds sorted
// component keys, nil meaning every component; OwnerEmail is set only for
// webhooks.
type CSVSubscriber struct {
	Channel    string
	Address    string
	Components []string
	OwnerEmail string
}

// CSVReport tells the person importing what happened to each data line.
// Rows counts the data lines read (blank lines are not counted); every one of
// them is either accepted or listed in Refused, in file order.
type CSVReport struct {
	Rows     int
	Accepted int
	// Channels counts accepted lines per channel, with all three channels
	// present once a header has been read.
	Channels map[string]int
	Refused  []CSVRefusal
	// Lines holds the line number of each accepted subscriber, in the
	// order of the rows returned, so checks made after reading (see
	// RefuseAccepted) can report a line too.
	Lines []int
}

// CSVRefusal is one refused line: its line number in the file (the line
// where it starts, when a quoted cell spans several), its address cell as
// written, cut to 100 characters and with invalid UTF-8 replaced, and the
// reason in words.
type CSVRefusal struct {
	Line    int
	Address string
	Reason  string
}

// CSVLimits bound what a subscriber CSV file may hold, so one upload cannot
// exhaust memory. Zero fields take the defaults.
type CSVLimits struct {
	MaxRows      int // data lines; DefaultCSVMaxRows when zero
	MaxLineBytes int // bytes of one line (record), line break included; DefaultCSVMaxLineBytes when zero
}

// CSVFileError refuses a subscriber CSV file as a whole. Line is 0 when the
// problem has no place in the file. It matches ErrInvalid under errors.Is.
type CSVFileError struct {
	Line    int
	Problem string
}

func (e *CSVFileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("subscriber csv: line %d: %s", e.Line, e.Problem)
	}
	return "subscriber csv: " + e.Problem
}

// Is makes every CSVFileError match ErrInvalid.
func (e *CSVFileError) Is(target error) bool { return target == ErrInvalid }

// ParseSubscriberCSV reads a subscriber CSV file, the file the console
// imports and exports, one subscriber a line, in the spirit of Atlassian
// Statuspage's subscriber import. It accepts at most maxRows data lines
// (DefaultCSVMaxRows when maxRows is zero or less) and lines of at most
// DefaultCSVMaxLineBytes; ParseSubscriberCSVLimits chooses both.
// knownComponents holds the component keys lines may name; with a nil map
// only "all" is accepted.
//
// It returns the accepted subscribers and a report of every line. When err is
// not nil nothing should be imported: rows and report are empty. err is a
// *CSVFileError for a bad file, or wraps the reader's error. It reads the
// input as a stream and never panics; the caller should still cap the
// request body (http.MaxBytesReader).
//
// # Format
//
// The first non-blank line is the header. It names the columns, in any order
// and in any letter case:
//
//	channel      required: email, sms or webhook
//	address      required: an email address, a phone number or an https URL
//	components   optional: empty or "all" for every component, otherwise
//	             component keys separated by ";" or "|"
//	owner_email  optional column, but required on webhook rows and refused on
//	             the others: who is told by email when the webhook fails
//
// Any other column refuses the whole file, so a typo in the header does not
// silently drop a column. For example:
//
//	channel,address,components,owner_email
//	email,ops@example.com,all,
//	sms,+27 21 555 0123,api;database,
//	webhook,https://hooks.example.com/status,api|website,dev@example.com
//
// Each data line is validated on its own; a bad line is refused with its line
// number and the reason in words (see [CSVReport]) and the others go on. The
// rules:
//
//   - cells are trimmed of surrounding spaces; a line whose cells are all
//     blank is skipped, as are empty lines;
//   - a cell written by [WriteSubscriberCSV] with a protective leading single
//     quote (a quote followed by = + - @ tab CR or another quote) has that one
//     quote removed first;
//   - addresses are checked and normalised by the functions sign-up uses
//     (NormalizeEmail, NormalizePhone, NormalizeWebhookURL), so the two
//     cannot drift apart:
//   - email addresses must parse with net/mail as a bare address (no display
//     name, no angle brackets) whose domain has a dot; they are stored in
//     lower case;
//   - phone numbers are E.164 (a plus, then 7 to 15 digits, not starting with
//     0); spaces, dashes, dots and brackets are allowed and removed, as on
//     the sign-up form;
//   - webhook URLs must be absolute https URLs with a host and no user name,
//     password or #fragment, at most 2048 characters; scheme and host are stored in
//     lower case. Only the form is checked here, so that an export re-reads
//     to the same rows: an import stores no webhook line (the console's import
//     and the store refuse them with [ImportWebhookRefused]), since a webhook's
//     signing secret reaches its owner only by signing up on the status page;
//   - every component key must be one the caller knows; keys are stored
//     sorted without repeats, and "all" (or an empty cell) is stored as nil;
//   - the same channel and (normalised) address twice in one file: the later
//     line is refused as a duplicate of the first;
//   - a line that is not valid UTF-8, or that has more non-empty cells than
//     the header has columns, is refused; fewer cells mean empty ones;
//     columns with an empty name in the header are ignored.
//
// The whole file is refused (an error matching [ErrInvalid], of type
// [*CSVFileError]) when it has no header, a header without channel or
// address, an unknown or repeated column, more data lines than the row limit
// (100,000 by default), a line longer than the length limit (8 KiB by
// default), or is not CSV (a stray double quote). A leading UTF-8 byte order
// mark, as Excel writes, is ignored; lines may end in LF or CRLF. Cells that
// contain commas, quotes or line breaks are quoted as RFC 4180 says.
//
// [WriteSubscriberCSV] writes the same format.
func ParseSubscriberCSV(r io.Reader, knownComponents map[string]bool, maxRows int) (rows []CSVSubscriber, report CSVReport, err error) {
	return ParseSubscriberCSVLimits(r, knownComponents, CSVLimits{MaxRows: maxRows})
}

// ParseSubscriberCSVLimits is ParseSubscriberCSV with every limit chosen by
// the caller.
func ParseSubscriberCSVLimits(r io.Reader, knownComponents map[string]bool, lim CSVLimits) ([]CSVSubscriber, CSVReport, error) {
	if lim.MaxRows <= 0 {
		lim.MaxRows = DefaultCSVMaxRows
	}
	if lim.MaxLineBytes <= 0 {
		lim.MaxLineBytes = DefaultCSVMaxLineBytes
	}
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && string(b) == "\uFEFF" {
		_, _ = br.Discard(3)
	} else if err != nil && err != io.EOF {
		return nil, CSVReport{}, fmt.Errorf("subscriber csv: read: %w", err)
	}
	lr := &csvLimitReader{r: br, max: lim.MaxLineBytes, line: 1, start: 1}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.LazyQuotes = false

	p := csvParser{known: knownComponents, seen: map[string]int{}}
	haveHeader := false
	var rows []CSVSubscriber
	var report CSVReport
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, CSVReport{}, csvReadError(err)
		}
		if csvBlank(rec) {
			continue
		}
		line, _ := cr.FieldPos(0)
		if !haveHeader {
			if err := p.header(rec, line); err != nil {
				return nil, CSVReport{}, err
			}
			haveHeader = true
			report.Channels = map[string]int{"email": 0, "sms": 0, "webhook": 0}
			continue
		}
		report.Rows++
		if report.Rows > lim.MaxRows {
			return nil, CSVReport{}, &CSVFileError{Line: line, Problem: fmt.Sprintf("more than %d subscribers; split the file", lim.MaxRows)}
		}
		s, reason := p.row(rec, line)
		if reason != "" {
			report.Refused = append(report.Refused, CSVRefusal{Line: line, Address: p.rawAddress(rec), Reason: reason})
			continue
		}
		rows = append(rows, s)
		report.Lines = append(report.Lines, line)
		report.Accepted++
		report.Channels[s.Channel]++
	}
	if !haveHeader {
		return nil, CSVReport{}, &CSVFileError{Problem: "the file is empty; the first line must be the header " + strings.Join(csvColumns, ",")}
	}
	return rows, report, nil
}

// csvReadError turns an error of csv.Reader into the error the caller sees.
func csvReadError(err error) error {
	var fe *CSVFileError
	if errors.As(err, &fe) {
		return fe
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &CSVFileError{Line: pe.Line, Problem: "not valid CSV (" + pe.Err.Error() + `); a cell containing " must be quoted, with each " inside it doubled`}
	}
	return fmt.Errorf("subscriber csv: read: %w", err)
}

// csvParser holds what validating one line needs from the lines before it.
type csvParser struct {
	known map[string]bool
	cols  [4]int         // index of each of csvColumns in a record, -1 when absent
	width int            // number of header cells
	seen  map[string]int // channel + "\x00" + address -> line first accepted
}

// header reads the header line: the column names, in any order and case.
func (p *csvParser) header(rec []string, line int) error {
	p.cols = [4]int{-1, -1, -1, -1}
	p.width = len(rec)
	for i, name := range rec {
		name = strings.ToLower(strings.TrimSpace(name))
		col := slices.Index(csvColumns, name)
		switch {
		case col < 0 && name == "":
			continue // a nameless column, as spreadsheets leave: ignored
		case col < 0:
			return &CSVFileError{Line: line, Problem: fmt.Sprintf("unknown column %s; the first line must be the header, with columns %s", strconv.Quote(csvTruncate(name)), strings.Join(csvColumns, ", "))}
		case p.cols[col] >= 0:
			return &CSVFileError{Line: line, Problem: fmt.Sprintf("column %s appears twice in the header", name)}
		}
		p.cols[col] = i
	}
	for _, col := range []int{csvColChannel, csvColAddress} {
		if p.cols[col] < 0 {
			return &CSVFileError{Line: line, Problem: fmt.Sprintf("the header has no %s column; the first line must be the header, with columns %s", csvColumns[col], strings.Join(csvColumns, ", "))}
		}
	}
	return nil
}

// cell returns a column's cell of rec, trimmed and without the export's
// protective quote; "" when the column or the cell is missing.
func (p *csvParser) cell(rec []string, col int) string {
	i := p.cols[col]
	if i < 0 || i >= len(rec) {
		return ""
	}
	return csvUnprotect(strings.TrimSpace(rec[i]))
}

// rawAddress is the address cell as the report shows it: as written,
// trimmed and cut short.
func (p *csvParser) rawAddress(rec []string) string {
	if i := p.cols[csvColAddress]; i < len(rec) {
		return csvTruncate(strings.TrimSpace(rec[i]))
	}
	return ""
}

// row validates one data line. It returns the subscriber, or the reasons it
// is refused joined in one sentence.
func (p *csvParser) row(rec []string, line int) (CSVSubscriber, string) {
	for _, c := range rec {
		if !utf8.ValidString(c) {
			return CSVSubscriber{}, "not valid UTF-8; save the file as UTF-8"
		}
	}
	var problems []string
	if len(rec) > p.width && !csvBlank(rec[p.width:]) {
		problems = append(problems, fmt.Sprintf("has %d cells but the header has %d", len(rec), p.width))
	}
	s := CSVSubscriber{Channel: strings.ToLower(p.cell(rec, csvColChannel))}
	address := p.cell(rec, csvColAddress)
	owner := p.cell(rec, csvColOwner)
	switch s.Channel {
	case "email", "sms", "webhook":
		if address == "" {
			problems = append(problems, "address is empty")
			break
		}
		var problem string
		s.Address, problem = csvAddress(s.Channel, address)
		if problem != "" {
			problems = append(problems, problem)
		}
	case "":
		problems = append(problems, "channel is empty; use email, sms or webhook")
	default:
		problems = append(problems, fmt.Sprintf("channel %s is not one of email, sms, webhook", strconv.Quote(csvTruncate(s.Channel))))
	}
	var problem string
	if s.Components, problem = csvComponents(p.cell(rec, csvColComponents), p.known); problem != "" {
		problems = append(problems, problem)
	}
	switch {
	case s.Channel == "webhook" && owner == "":
		problems = append(problems, "owner_email is empty; a webhook needs an owner, told by email when it fails")
	case s.Channel == "webhook":
		var err error
		if s.OwnerEmail, err = NormalizeEmail(owner); err != nil {
			problems = append(problems, "owner_email is not an email address")
		}
	case owner != "" && (s.Channel == "email" || s.Channel == "sms"):
		problems = append(problems, "owner_email is only for webhook lines; leave it empty")
	}
	if len(problems) > 0 {
		return CSVSubscriber{}, strings.Join(problems, "; ")
	}
	key := s.Channel + "\x00" + s.Address
	if first, ok := p.seen[key]; ok {
		return CSVSubscriber{}, fmt.Sprintf("duplicate of line %d", first)
	}
	p.seen[key] = line
	return s, ""
}

// csvAddress validates and normalises the address of a known channel with
// the sign-up form's functions (NormalizeEmail, NormalizePhone,
// NormalizeWebhookURL), so an import accepts exactly what sign-up accepts.
// The reason says what is wrong in the file's terms: where it can tell
// more precisely than the shared message (a display name, a missing scheme),
// it does.
func csvAddress(channel, address string) (string, string) {
	switch channel {
	case "email":
		s, err := NormalizeEmail(address)
		if err != nil {
			if _, perr := mail.ParseAddress(address); perr == nil && strings.ContainsAny(address, "<>") {
				return "", "give the bare email address, like name@example.com, without a display name or angle brackets"
			}
			return "", "address " + err.Error()
		}
		return s, ""
	case "sms":
		s, err := NormalizePhone(address)
		if err != nil {
			return "", "address " + err.Error()
		}
		return s, ""
	default: // webhook
		s, err := NormalizeWebhookURL(address)
		if err != nil {
			return "", csvWebhookReason(address, err)
		}
		return s, ""
	}
}

// csvWebhookReason words NormalizeWebhookURL's refusal of s, naming the
// part of the URL at fault when it can.
func csvWebhookReason(s string, err error) string {
	u, perr := url.Parse(s)
	switch {
	case perr != nil:
		return "not a URL"
	case u.Scheme == "" || u.Opaque != "":
		return "webhook URL must be absolute, like https://hooks.example.com/status"
	case u.Scheme != "https":
		return "webhook URL must use https"
	case u.Hostname() == "":
		return "webhook URL has no host"
	}
	return "webhook URL " + err.Error()
}

// csvComponents reads a components cell: nil for every component, otherwise
// the sorted keys without repeats.
func csvComponents(cell string, known map[string]bool) ([]string, string) {
	if cell == "" || strings.EqualFold(cell, "all") {
		return nil, ""
	}
	var keys, unknown []string
	for _, k := range strings.FieldsFunc(cell, func(r rune) bool { return r == ';' || r == '|' }) {
		k = strings.TrimSpace(k)
		switch {
		case k == "":
			continue
		case strings.EqualFold(k, "all"):
			return nil, `components: "all" cannot be combined with component keys`
		case known[k]:
			keys = append(keys, k)
		case known[strings.ToLower(k)]:
			keys = append(keys, strings.ToLower(k))
		default:
			if q := strconv.Quote(csvTruncate(k)); !slices.Contains(unknown, q) {
				unknown = append(unknown, q)
			}
		}
	}
	switch {
	case len(unknown) == 1:
		return nil, "unknown component " + unknown[0]
	case len(unknown) > 1:
		return nil, "unknown components " + strings.Join(unknown, ", ")
	case len(keys) == 0:
		return nil, `components lists no keys; leave it empty or write "all" for every component`
	}
	slices.Sort(keys)
	return slices.Compact(keys), ""
}

// csvBlank reports whether every cell is empty or spaces.
func csvBlank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// csvTruncate cuts s to the length a report shows, after replacing invalid
// UTF-8, so a refusal never carries more than a line's worth of input.
func csvTruncate(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= csvReportAddressRunes {
		return s
	}
	return string([]rune(s)[:csvReportAddressRunes])
}

// csvFormulaStart lists the first characters that make a spreadsheet read a
// cell as a formula (OWASP's CSV injection list), plus the quote itself so
// that removing the protection on import is unambiguous.
const csvFormulaStart = "=+-@\t\r'"

// csvProtect prefixes a single quote to a cell a spreadsheet would run as a
// formula.
func csvProtect(s string) string {
	if s != "" && strings.IndexByte(csvFormulaStart, s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// csvUnprotect removes the quote csvProtect added.
func csvUnprotect(s string) string {
	if len(s) >= 2 && s[0] == '\'' && strings.IndexByte(csvFormulaStart, s[1]) >= 0 {
		return s[1:]
	}
	return s
}

// WriteSubscriberCSV writes rows in the format ParseSubscriberCSV reads,
// header first, lines ending in LF: components as "all" or the keys joined
// by ";". It is safe to open in a spreadsheet: any cell starting with = + -
// @ tab CR or a single quote gets a single quote in front, which the import
// removes, so the export re-imports to the same rows. The exception is the
// address of an sms line that is a valid E.164 number: its leading + stays,
// so the number remains importable, and a plus followed only by digits is a
// number to a spreadsheet, never a formula that runs.
func WriteSubscriberCSV(w io.Writer, rows []CSVSubscriber) error {
	sw := NewSubscriberCSVWriter(w)
	for _, s := range rows {
		if err := sw.Write(s); err != nil {
			return err
		}
	}
	return sw.Flush()
}

// SubscriberCSVWriter writes the file of WriteSubscriberCSV one row at a
// time, so an export streams rather than holding every subscriber.
type SubscriberCSVWriter struct {
	cw      *csv.Writer
	rec     []string
	started bool
}

// NewSubscriberCSVWriter writes to w; the header goes out with the first
// row, or at Flush when there is none.
func NewSubscriberCSVWriter(w io.Writer) *SubscriberCSVWriter {
	// LF line ends: with CRLF, csv.Writer drops a lone CR inside a cell.
	return &SubscriberCSVWriter{cw: csv.NewWriter(w), rec: make([]string, len(csvColumns))}
}

func (sw *SubscriberCSVWriter) start() error {
	if sw.started {
		return nil
	}
	sw.started = true
	if err := sw.cw.Write(csvColumns); err != nil {
		return fmt.Errorf("subscriber csv: write: %w", err)
	}
	return nil
}

// Write writes one row (buffered; see Flush).
func (sw *SubscriberCSVWriter) Write(s CSVSubscriber) error {
	if err := sw.start(); err != nil {
		return err
	}
	rec := sw.rec
	rec[csvColChannel] = csvProtect(s.Channel)
	rec[csvColAddress] = s.Address
	if s.Channel != "sms" || !csvPhonePattern.MatchString(s.Address) {
		rec[csvColAddress] = csvProtect(s.Address)
	}
	rec[csvColComponents] = "all"
	if len(s.Components) > 0 {
		rec[csvColComponents] = csvProtect(strings.Join(s.Components, ";"))
	}
	rec[csvColOwner] = csvProtect(s.OwnerEmail)
	if err := sw.cw.Write(rec); err != nil {
		return fmt.Errorf("subscriber csv: write: %w", err)
	}
	return nil
}

// Flush writes what is buffered, the header at least.
func (sw *SubscriberCSVWriter) Flush() error {
	if err := sw.start(); err != nil {
		return err
	}
	sw.cw.Flush()
	if err := sw.cw.Error(); err != nil {
		return fmt.Errorf("subscriber csv: write: %w", err)
	}
	return nil
}

// csvLimitReader refuses a record longer than max bytes before csv.Reader
// buffers it, so one endless line cannot exhaust memory. It follows quotes to
// know where a record ends: in valid CSV a line break ends the record only
// outside quotes, and a quote inside a quoted cell is doubled.
type csvLimitReader struct {
	r      io.Reader
	max    int
	line   int  // line of the next byte
	start  int  // line where the current record began
	n      int  // bytes of the current record so far
	quoted bool // inside a quoted cell
	err    error
}

func (l *csvLimitReader) Read(b []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(b)
	for i, c := range b[:n] {
		l.n++
		if l.n > l.max {
			problem := fmt.Sprintf("longer than %d bytes", l.max)
			if l.quoted {
				problem += "; a quoted cell may be missing its closing quote"
			}
			l.err = &CSVFileError{Line: l.start, Problem: problem}
			if i == 0 {
				return 0, l.err
			}
			return i, nil // the bytes before; the error on the next call
		}
		switch c {
		case '"':
			l.quoted = !l.quoted
		case '\n':
			l.line++
			if !l.quoted {
				l.n, l.start = 0, l.line
			}
		}
	}
	return n, err
}
