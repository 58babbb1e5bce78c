package poller

// Table is an array indexed by descriptor number (or any small
// non-negative index) kept in pages of TablePage entries: growing it
// allocates the pages it reaches and never copies what it holds. A slice
// grown by append would leave its old copies behind as garbage each time
// it doubled, and its spare capacity on top: a server holding many idle
// connections pays for both in memory. The zero Table is empty and ready.
type Table[T any] struct {
	pages []*[TablePage]T
}

// TablePage is the number of entries of one page of a Table.
const TablePage = 512

// At returns entry i, or the zero T when i is negative or was never set.
func (t *Table[T]) At(i int) T {
	if i >= 0 {
		if p := i / TablePage; p < len(t.pages) {
			if pg := t.pages[p]; pg != nil {
				return pg[i%TablePage]
			}
		}
	}
	var zero T
	return zero
}

// Slot returns where entry i is kept, making room for it; i must not be
// negative.
func (t *Table[T]) Slot(i int) *T {
	p := i / TablePage
	if p >= len(t.pages) {
		t.pages = append(t.pages, make([]*[TablePage]T, p+1-len(t.pages))...)
	}
	pg := t.pages[p]
	if pg == nil {
		pg = new([TablePage]T)
		t.pages[p] = pg
	}
	return &pg[i%TablePage]
}

// Set sets entry i; i must not be negative.
func (t *Table[T]) Set(i int, v T) { *t.Slot(i) = v }

// Each calls fn with every entry of the pages made so far, in index
// order (entries never set among them are zero).
func (t *Table[T]) Each(fn func(i int, v T)) {
	for p, pg := range t.pages {
		if pg == nil {
			continue
		}
		for k, v := range pg {
			fn(p*TablePage+k, v)
		}
	}
}
