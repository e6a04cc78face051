// Package fixture is under testdata: not counted.
package fixture

func InTestdata() {}
