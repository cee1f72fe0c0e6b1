package main

import "testing"

func TestFmtCount(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -12345: "-12,345"} {
		if got := fmtCount(in); got != want {
			t.Errorf("fmtCount(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		gateway, nginx []float64
		higherBetter   bool
		want           string
	}{
		{[]float64{10, 11, 12}, []float64{20, 21, 22}, true, "**loses**"},
		{[]float64{10, 11, 12}, []float64{20, 21, 22}, false, "wins"},
		{[]float64{10, 15, 21}, []float64{20, 21, 22}, true, "within the spread"},
		{[]float64{30, 31}, []float64{20, 21, 22}, true, "wins"},
		{[]float64{20.5, 21.5}, []float64{20, 21, 22}, true, "on par (medians within 5%)"},
	} {
		if got := verdict(tc.gateway, tc.nginx, tc.higherBetter); got != tc.want {
			t.Errorf("verdict(%v, %v, %v) = %q, want %q", tc.gateway, tc.nginx, tc.higherBetter, got, tc.want)
		}
	}
}

func TestCell(t *testing.T) {
	if got := cell([]float64{3, 1, 2}, fmtCount); got != "2 (1–3)" {
		t.Errorf("cell = %q", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median = %v", got)
	}
}

func TestSection(t *testing.T) {
	md := "# Title\n\n## Balance\n\nbalance text\n\n| a |\n\n## Cost\n\n### Owner\n\n| owner |\n\n### New\n\nnew\n"
	if got, want := section(md, "## Balance"), "### Balance\nbalance text\n\n| a |"; got != want {
		t.Errorf("section(Balance) = %q, want %q", got, want)
	}
	if got, want := section(md, "### Owner"), "### Lookup cost (Owner)\n| owner |"; got != want {
		t.Errorf("section(Owner) = %q, want %q", got, want)
	}
	if got := section(md, "## Missing"); got != "" {
		t.Errorf("section(Missing) = %q", got)
	}
}
