#include <string>
#include <vector>

namespace ui {

// A widget that draws itself.
class Widget : public Base {
public:
    explicit Widget(std::string name) : name_(std::move(name)) {}

    void draw() const;

    int width() const { return width_; }

private:
    std::string name_;
    int width_ = 0;
};

void Widget::draw() const {
    render(name_);
}

template <typename T>
T clamp(T v, T lo, T hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

}  // namespace ui
