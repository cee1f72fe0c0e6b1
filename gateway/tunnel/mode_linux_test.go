package tunnel

var modes = []mode{
	{name: "raw", raw: true},
	{name: "goroutines"},
	{name: "raw-dialled", raw: true, dial: true},
	{name: "raw-accepted", raw: true, dial: true, accept: true},
}
