package pluginstest

// RunMain is Main with a runner of the test's making, and its error.
var RunMain = runMain
