package engine

import "testing"

func TestIsPreviewAllocs(t *testing.T) {
	q := []byte("SELECT c FROM sbtest1 WHERE id=1")
	p := []byte("preview SELECT 1")
	n := testing.AllocsPerRun(1000, func() { IsPreview(q); IsPreview(p) })
	if n != 0 {
		t.Fatalf("%v allocs", n)
	}
	for in, want := range map[string]string{"PREVIEW SELECT 1": "SELECT 1", " preview\nx ": "x", "previewx": "", "preview": "", "PREVIEW ": "", "SELECT 1": ""} {
		got, ok := IsPreview([]byte(in))
		if string(got) != want || ok != (want != "") {
			t.Errorf("%q: %q %v", in, got, ok)
		}
	}
}
