package realnode

// TestOptions is testOptions for the package's external tests.
var TestOptions = testOptions
