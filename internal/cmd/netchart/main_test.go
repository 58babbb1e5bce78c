package main

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// element is what the test looks at in the rendered SVG.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

// parseSVG checks that svg is well-formed XML and returns its elements.
func parseSVG(t *testing.T, svg string) []element {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var els []element
	var stack []int
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			els = append(els, e)
			stack = append(stack, len(els)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				els[stack[len(stack)-1]].text += string(tok)
			}
		}
	}
	if len(els) == 0 || els[0].name != "svg" {
		t.Fatal("root element is not <svg>")
	}
	return els
}

func checkChart(t *testing.T, input string) {
	res, err := parse(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	render(&b, res, "test <chart> & co")
	els := parseSVG(t, b.String())

	texts := map[string]bool{}
	bars := map[[2]string]int{}
	idle := map[string]int{}
	white := false
	for _, e := range els {
		switch {
		case e.name == "text":
			texts[strings.TrimSpace(e.text)] = true
		case e.name == "rect" && e.attrs["class"] == "bar":
			bars[[2]string{e.attrs["data-impl"], e.attrs["data-case"]}]++
		case e.name == "rect" && e.attrs["class"] == "idle":
			idle[e.attrs["data-impl"]]++
		case e.name == "rect" && e.attrs["fill"] == "#ffffff" && e.attrs["x"] == "0":
			white = true
		}
	}
	if !white {
		t.Error("no white background")
	}
	if !texts["test <chart> & co"] {
		t.Error("title missing or badly escaped")
	}
	if len(res.impls) == 0 || len(res.cases) == 0 {
		t.Fatalf("parsed %d impls, %d cases", len(res.impls), len(res.cases))
	}
	for _, impl := range res.impls {
		if !texts[impl] {
			t.Errorf("no label %q", impl)
		}
		for c := range res.cpu[impl] {
			if n := bars[[2]string{impl, c.String()}]; n != 1 {
				t.Errorf("%s %s: %d bars", impl, c, n)
			}
		}
		if _, ok := res.idle[impl]; ok && idle[impl] != 1 {
			t.Errorf("%s: %d idle bars", impl, idle[impl])
		}
	}
	for _, c := range res.cases {
		if !texts[c.String()] {
			t.Errorf("no label for case %s", c)
		}
	}
}

// The kept results file renders, with a bar for every impl in every case:
// testdata's copy of a run.sh -runs 3 file. (Only the repository's own
// copy: result files elsewhere come in other shapes, such as floors-only or
// TLS runs, which the chart does not claim to draw whole.)
func TestRenderKeptResults(t *testing.T) {
	files := []string{filepath.Join("testdata", "runs3-raw.txt")}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res, err := parse(strings.NewReader(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			for _, impl := range []string{"net", "gnet", "nbio", "libevent", "tevent"} {
				if len(res.cpu[impl]) != 6 || res.idle[impl] == 0 {
					t.Errorf("%s: %d cases, idle %v", impl, len(res.cpu[impl]), res.idle[impl])
				}
			}
			checkChart(t, string(data))
		})
	}
}

const sample = `ECHO impl=go-tevent conns=1 size=64 msgs_per_s=20000 p50_us=40 p99_us=80 errors=0
CPU impl=go-tevent conns=1 size=64 srv_cpu_pct=40 srv_us_per_msg=10.00 load_cpu_pct=70 other_cpu_pct=0 irq_cpu_pct=30 steal_pct=0
CPU impl=go-tevent conns=1 size=64 srv_cpu_pct=40 srv_us_per_msg=30.00 load_cpu_pct=70 other_cpu_pct=0 irq_cpu_pct=30 steal_pct=0
CPU impl=go-tevent conns=1 size=64 srv_cpu_pct=40 srv_us_per_msg=20.00 load_cpu_pct=70 other_cpu_pct=0 irq_cpu_pct=30 steal_pct=0
DISTURBED try=1 other_cpu_pct=25 CPU impl=gnet conns=1 size=64 srv_cpu_pct=40 srv_us_per_msg=999 load_cpu_pct=70
CPU impl=gnet conns=1 size=64 srv_cpu_pct=40 srv_us_per_msg=12.5 load_cpu_pct=70 other_cpu_pct=0 irq_cpu_pct=30 steal_pct=0
CPU impl=gnet conns=100 size=4096 srv_cpu_pct=40 srv_us_per_msg=14 load_cpu_pct=70 other_cpu_pct=0 irq_cpu_pct=30 steal_pct=0
IDLE impl=go-tevent conns=10000 rss_kb=3000 kb_per_conn=0.30 base_rss_kb=4000 errors=0
IDLE impl=gnet conns=10000 rss_kb=5120 kb_per_conn=0.52 base_rss_kb=6652 errors=0
`

func TestParseMedians(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if q := strings.Join(res.impls, ","); q != "go-tevent,gnet" {
		t.Errorf("impls %s", q)
	}
	if v := res.cpu["go-tevent"][benchCase{1, 64}]; v != 20 {
		t.Errorf("median %v, want 20", v)
	}
	if v := res.cpu["gnet"][benchCase{1, 64}]; v != 12.5 {
		t.Errorf("gnet %v: the DISTURBED line counted", v)
	}
	if len(res.cases) != 2 || res.cases[0] != (benchCase{1, 64}) {
		t.Errorf("cases %v", res.cases)
	}
	if res.idle["go-tevent"] != 0.30 || res.idleN != 10000 {
		t.Errorf("idle %v at %d", res.idle, res.idleN)
	}
	if c := colours(res.impls); c["go-tevent"] != palette[0] || c["gnet"] == palette[0] {
		t.Errorf("colours %v", c)
	}
	checkChart(t, sample)
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"CPU conns=1 size=64 srv_us_per_msg=1\n",
		"CPU impl=x conns=1 size=64 srv_us_per_msg=abc\n",
		"CPU impl=x conns=1 srv_us_per_msg=1\n",
		"IDLE impl=x conns=10 kb_per_conn=-1\n",
	} {
		if _, err := parse(strings.NewReader(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestRunWritesFile(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "r.txt")
	out := filepath.Join(dir, "c.svg")
	if err := os.WriteFile(in, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(in, out, "t"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	parseSVG(t, string(data))
	if err := os.WriteFile(in, []byte("nothing here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(in, out, "t"); err == nil {
		t.Error("empty input: no error")
	}
}

// A TLS run's handshake cells (CPU lines with srv_us_per_hs instead of
// srv_us_per_msg) are not echo costs: they are skipped, not an error.
func TestParseSkipsHandshakeCells(t *testing.T) {
	in := sample + "CPU impl=net-tls conns=100 size=64 tls=1.3 srv_cpu_pct=86 srv_us_per_hs=247.06 load_cpu_pct=99\n"
	res, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.cpu["net-tls"]; ok {
		t.Errorf("a handshake cell was read as an echo cost: %v", res.cpu["net-tls"])
	}
	if _, err := parse(strings.NewReader("CPU impl=x conns=1 size=64 srv_cpu_pct=1\n")); err == nil {
		t.Error("a CPU line with neither srv_us_per_msg nor srv_us_per_hs parsed without error")
	}
}
