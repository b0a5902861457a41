package shapes

import scala.math.Pi

/** A shape with an area. */
trait Shape {
  def area: Double
}

case class Circle(r: Double) extends Shape {
  def area: Double = Pi * r * r

  def scale(k: Double): Circle = Circle(r * k)
}

object Shapes {
  def total(xs: Seq[Shape]): Double = xs.map(_.area).sum
}

def main(): Unit = println(Circle(1).area)
