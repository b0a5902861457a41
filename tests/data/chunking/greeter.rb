require "json"

module Greetings
  # Says hello.
  class Greeter
    attr_reader :name

    def initialize(name)
      @name = name
    end

    def greet
      "Hello, #{name}"
    end

    def self.default
      new("world")
    end
  end
end

def shout(text)
  text.upcase
end
