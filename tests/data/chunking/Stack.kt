package com.example

import kotlin.math.max

/** A simple stack. */
class Stack<T>(private val items: MutableList<T> = mutableListOf()) {
    val size: Int get() = items.size

    fun push(item: T) {
        items.add(item)
    }

    fun pop(): T? = if (items.isEmpty()) null else items.removeAt(items.size - 1)

    companion object {
        fun <T> of(vararg xs: T): Stack<T> = Stack(xs.toMutableList())
    }
}

object Registry {
    fun register(name: String) = println(name)
}

interface Shape {
    fun area(): Double
}

fun biggest(a: Int, b: Int): Int = max(a, b)
