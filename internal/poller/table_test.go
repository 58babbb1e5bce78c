package poller

import "testing"

// A Table reads zero where nothing was set (negative indexes included),
// keeps what was set across pages, and never moves an entry: a pointer
// from Slot stays valid as the table grows.
func TestTable(t *testing.T) {
	var tb Table[int32]
	if v := tb.At(-1); v != 0 {
		t.Errorf("At(-1) = %d on an empty table", v)
	}
	if v := tb.At(5 * TablePage); v != 0 {
		t.Errorf("At past the end = %d", v)
	}
	p := tb.Slot(3)
	*p = 7
	idx := []int{0, TablePage - 1, TablePage, 3*TablePage + 5, 10 * TablePage}
	for k, i := range idx {
		tb.Set(i, int32(100+k))
	}
	if *p != 7 || tb.At(3) != 7 {
		t.Errorf("entry 3 moved or changed while the table grew: %d, %d", *p, tb.At(3))
	}
	for k, i := range idx {
		if v := tb.At(i); v != int32(100+k) {
			t.Errorf("At(%d) = %d, want %d", i, v, 100+k)
		}
	}
	if v := tb.At(2 * TablePage); v != 0 {
		t.Errorf("At in a page never made = %d", v)
	}
	seen := map[int]int32{}
	tb.Each(func(i int, v int32) {
		if v != 0 {
			seen[i] = v
		}
	})
	if len(seen) != len(idx)+1 || seen[3] != 7 || seen[10*TablePage] != 104 {
		t.Errorf("Each saw %v", seen)
	}
}
