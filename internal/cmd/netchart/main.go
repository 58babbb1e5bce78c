// Command netchart draws the network benchmark's results as an SVG: server
// CPU time per echoed message (the median srv_us_per_msg of each
// implementation in each connections × message-size case) as grouped bars,
// and memory per idle connection (kb_per_conn) per implementation.
//
//	go run ./internal/cmd/netchart -in results.txt -out docs/netbench.svg
//
// The input is the raw results file of bench/run.sh net (or tls), which
// it leaves in $BENCH_OUT/net/results.txt: ECHO, CPU and IDLE lines of
// key=value fields. DISTURBED lines (runs retried because the machine was
// busy) and anything else are skipped. The picture has a white background
// of its own so that it reads the same on GitHub's light and dark themes.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", "", "results file of run.sh (default: standard input)")
	out := flag.String("out", "", "SVG file to write (default: standard output)")
	title := flag.String("title", "Echo server cost per message and per idle connection", "chart title")
	flag.Parse()
	if err := run(*in, *out, *title); err != nil {
		fmt.Fprintln(os.Stderr, "netchart:", err)
		os.Exit(1)
	}
}

func run(in, out, title string) error {
	r := io.Reader(os.Stdin)
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	res, err := parse(r)
	if err != nil {
		return err
	}
	if len(res.impls) == 0 {
		return fmt.Errorf("%s: no CPU or IDLE lines", name(in))
	}
	var b strings.Builder
	render(&b, res, title)
	if out == "" {
		_, err = io.WriteString(os.Stdout, b.String())
		return err
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

func name(in string) string {
	if in == "" {
		return "standard input"
	}
	return in
}

// benchCase is one connections × size combination.
type benchCase struct{ conns, size int }

func (c benchCase) String() string {
	s := "s"
	if c.conns == 1 {
		s = ""
	}
	return fmt.Sprintf("%d conn%s, %d B", c.conns, s, c.size)
}

// results holds the medians the chart shows.
type results struct {
	impls []string // in order of first appearance
	cases []benchCase
	cpu   map[string]map[benchCase]float64 // impl -> case -> median srv_us_per_msg
	idle  map[string]float64               // impl -> median kb_per_conn
	idleN int                              // connections of the idle runs (the largest seen)
}

// parse reads a results file and takes the median of every repeated
// measurement.
func parse(r io.Reader) (*results, error) {
	cpu := map[string]map[benchCase][]float64{}
	idle := map[string][]float64{}
	res := &results{cpu: map[string]map[benchCase]float64{}, idle: map[string]float64{}}
	seen := map[string]bool{}
	addImpl := func(impl string) {
		if !seen[impl] {
			seen[impl] = true
			res.impls = append(res.impls, impl)
		}
	}
	caseSeen := map[benchCase]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || (fields[0] != "CPU" && fields[0] != "IDLE") {
			continue
		}
		kv := map[string]string{}
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = v
			}
		}
		impl := kv["impl"]
		if impl == "" {
			return nil, fmt.Errorf("line %d: %s line without impl=", line, fields[0])
		}
		num := func(k string) (float64, error) {
			v, err := strconv.ParseFloat(kv[k], 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return 0, fmt.Errorf("line %d: bad or missing %s=%q", line, k, kv[k])
			}
			return v, nil
		}
		conns, err := num("conns")
		if err != nil {
			return nil, err
		}
		switch fields[0] {
		case "CPU":
			if _, ok := kv["srv_us_per_msg"]; !ok && kv["srv_us_per_hs"] != "" {
				continue // a handshake cell (run.sh -tls): not an echo cost
			}
			size, err := num("size")
			if err != nil {
				return nil, err
			}
			us, err := num("srv_us_per_msg")
			if err != nil {
				return nil, err
			}
			c := benchCase{int(conns), int(size)}
			if !caseSeen[c] {
				caseSeen[c] = true
				res.cases = append(res.cases, c)
			}
			if cpu[impl] == nil {
				cpu[impl] = map[benchCase][]float64{}
			}
			cpu[impl][c] = append(cpu[impl][c], us)
		case "IDLE":
			kb, err := num("kb_per_conn")
			if err != nil {
				return nil, err
			}
			idle[impl] = append(idle[impl], kb)
			res.idleN = max(res.idleN, int(conns))
		}
		addImpl(impl)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(res.cases, func(a, b benchCase) int {
		if a.size != b.size {
			return a.size - b.size
		}
		return a.conns - b.conns
	})
	for impl, m := range cpu {
		res.cpu[impl] = map[benchCase]float64{}
		for c, v := range m {
			res.cpu[impl][c] = median(v)
		}
	}
	for impl, v := range idle {
		res.idle[impl] = median(v)
	}
	return res, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// palette: Okabe-Ito colours, distinguishable with the common colour
// vision deficiencies; the project's own implementation gets the first.
var palette = []string{"#D55E00", "#0072B2", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000", "#999999"}

const ownImpl = "go-tevent"

func colours(impls []string) map[string]string {
	m := map[string]string{}
	next := 1
	for _, impl := range impls {
		if impl == ownImpl {
			m[impl] = palette[0]
			continue
		}
		m[impl] = palette[next%len(palette)]
		next++
	}
	return m
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, and returns the
// tick step that divides it into about five.
func niceCeil(v float64) (top, step float64) {
	if v <= 0 {
		return 1, 0.2
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			top = m * p
			break
		}
	}
	step = top / 5
	return top, step
}

func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// render writes the SVG: a legend, the CPU panel, the idle-memory panel.
func render(w *strings.Builder, res *results, title string) {
	const (
		width   = 980
		left    = 70 // plot area's left edge
		right   = 20
		font    = `font-family="-apple-system,Segoe UI,Helvetica,Arial,sans-serif"`
		ink     = "#1f2328"
		grid    = "#d0d7de"
		faint   = "#57606a"
		cpuTop  = 96
		cpuPlot = 300 // height of the CPU plot area
	)
	col := colours(res.impls)
	var cpuImpls []string
	for _, impl := range res.impls {
		if len(res.cpu[impl]) > 0 {
			cpuImpls = append(cpuImpls, impl)
		}
	}
	var idleImpls []string
	for _, impl := range res.impls {
		if _, ok := res.idle[impl]; ok {
			idleImpls = append(idleImpls, impl)
		}
	}
	idleTop := cpuTop + cpuPlot + 90
	if len(res.cases) == 0 {
		idleTop = cpuTop
	}
	rowH := 24
	footY := idleTop + 20 + rowH*len(idleImpls) + 22
	if len(idleImpls) == 0 {
		footY = idleTop + 10
	}
	height := footY + 14

	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s font-size="12" fill="%s">`+"\n",
		width, height, width, height, font, ink)
	fmt.Fprintf(w, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(w, `<text x="%d" y="26" font-size="17" font-weight="600">%s</text>`+"\n", left-50, esc(title))

	// Legend: one swatch per implementation.
	x := left - 50
	for _, impl := range res.impls {
		fmt.Fprintf(w, `<rect x="%d" y="40" width="12" height="12" fill="%s"/><text x="%d" y="50" class="legend">%s</text>`+"\n",
			x, col[impl], x+16, esc(impl))
		x += 16 + 8*len(impl) + 22
	}

	if len(res.cases) > 0 {
		maxV := 0.0
		for _, impl := range cpuImpls {
			for _, v := range res.cpu[impl] {
				maxV = max(maxV, v)
			}
		}
		top, step := niceCeil(maxV * 1.08)
		plotW := width - left - right
		fmt.Fprintf(w, `<text x="%d" y="%d" font-size="14" font-weight="600">Server CPU per echoed message, µs (median srv_us_per_msg; lower is better)</text>`+"\n", left-50, cpuTop-16)
		y := func(v float64) float64 { return float64(cpuTop+cpuPlot) - v/top*float64(cpuPlot) }
		for i := 0; float64(i)*step <= top+step/2; i++ {
			t := float64(i) * step
			fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`, left, width-right, y(t), y(t), grid)
			fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end" fill="%s">%s</text>`+"\n",
				left-6, y(t)+4, faint, strconv.FormatFloat(math.Round(t*1000)/1000, 'f', -1, 64))
		}
		groupW := float64(plotW) / float64(len(res.cases))
		barW := (groupW - 16) / float64(max(1, len(cpuImpls)))
		for gi, c := range res.cases {
			gx := float64(left) + float64(gi)*groupW + 8
			for bi, impl := range cpuImpls {
				v, ok := res.cpu[impl][c]
				if !ok {
					continue
				}
				bx := gx + float64(bi)*barW
				fmt.Fprintf(w, `<rect class="bar" data-impl="%s" data-case="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %s µs</title></rect>`+"\n",
					esc(impl), esc(c.String()), bx+1, y(v), barW-2, float64(cpuTop+cpuPlot)-y(v), col[impl], esc(impl), esc(c.String()), num(v))
				if barW >= 18 {
					fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9" fill="%s">%s</text>`+"\n", bx+barW/2, y(v)-3, faint, num(v))
				}
			}
			fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", gx+(groupW-16)/2, cpuTop+cpuPlot+18, esc(c.String()))
		}
		fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="1"/>`+"\n", left, width-right, cpuTop+cpuPlot, cpuTop+cpuPlot, ink)
	}

	if len(idleImpls) > 0 {
		maxV := 0.0
		for _, impl := range idleImpls {
			maxV = max(maxV, res.idle[impl])
		}
		top, _ := niceCeil(maxV * 1.1)
		labelW := 90
		plotW := width - left - right - labelW
		fmt.Fprintf(w, `<text x="%d" y="%d" font-size="14" font-weight="600">Memory per idle connection, KB (RSS growth / connections at %d idle connections; lower is better)</text>`+"\n",
			left-50, idleTop, res.idleN)
		for i, impl := range idleImpls {
			v := res.idle[impl]
			ry := idleTop + 20 + i*rowH
			bw := v / top * float64(plotW)
			fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left+labelW-8, ry+15, esc(impl))
			fmt.Fprintf(w, `<rect class="idle" data-impl="%s" x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %s KB per idle connection</title></rect>`,
				esc(impl), left+labelW, ry+3, max(bw, 1), rowH-6, col[impl], esc(impl), num(v))
			fmt.Fprintf(w, `<text x="%.1f" y="%d" fill="%s">%s</text>`+"\n", float64(left+labelW)+max(bw, 1)+6, ry+15, faint, num(v))
		}
	}
	fmt.Fprintf(w, `<text x="%d" y="%d" font-size="11" fill="%s">%s</text>`+"\n", left-50, footY, faint,
		esc("Drawn by internal/cmd/netchart from run.sh results. tevent is Samba's C tevent; go-tevent is this project."))
	w.WriteString("</svg>\n")
}
