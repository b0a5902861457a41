export interface Item {
  price: number;
  quantity: number;
}

/** Sum the prices of the items in a shopping cart, times their quantities. */
export const cartTotal = (items: Item[]): number => {
  let total = 0;
  for (const item of items) {
    total += item.price * item.quantity;
  }
  return total;
};
