package net

import "time"

// RetryWithBackoff calls fn until it succeeds, doubling the wait after
// each failure and giving up after the given number of attempts.
//
// It returns the last error.
func RetryWithBackoff(attempts int, wait time.Duration, fn func() error) error {
	var err error
	for i := 0; i < attempts; i++ {
		if err = fn(); err == nil {
			return nil
		}
		time.Sleep(wait)
		wait *= 2
	}
	return err
}

func ReverseWords(sentence string) []string {
	words := strings.Fields(sentence)
	for i, j := 0, len(words)-1; i < j; i, j = i+1, j-1 {
		words[i], words[j] = words[j], words[i]
	}
	return words
}
