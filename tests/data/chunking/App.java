package com.example.app;

import java.util.List;
import java.util.Map;

/**
 * Entry point of the application.
 */
@SuppressWarnings("unused")
public class App {
    private final Map<String, Integer> counts;

    public App(Map<String, Integer> counts) {
        this.counts = counts;
    }

    /** Counts one word. */
    @Override
    public int count(String word) {
        return counts.merge(word, 1, Integer::sum);
    }

    static class Inner {
        void run() {
            System.out.println("run");
        }
    }

    enum Mode {
        FAST, SLOW;

        boolean isFast() { return this == FAST; }
    }
}

interface Greeter {
    String greet(String name);
}
