import Foundation

/// Counts things.
class Counter {
    private var value = 0

    init(start: Int) {
        value = start
    }

    func increment() {
        value += 1
    }

    func reset() {
        value = 0
    }
}

struct Point {
    var x: Double
    var y: Double
}

protocol Drawable {
    func draw()
}

extension Point: Drawable {
    func draw() {
        print(x, y)
    }
}

enum Direction {
    case up, down
}

func distance(_ a: Point, _ b: Point) -> Double {
    return ((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y)).squareRoot()
}
