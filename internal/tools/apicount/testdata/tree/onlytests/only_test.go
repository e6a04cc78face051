package onlytests

func InTestOnlyDir() {}
