package tunnel

var modes = []mode{{"raw", true}, {"goroutines", false}}
