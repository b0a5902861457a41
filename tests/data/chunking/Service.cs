using System;
using System.Collections.Generic;

namespace Example.Services
{
    /// <summary>Stores orders.</summary>
    [Serializable]
    public class OrderService : IOrderService
    {
        private readonly List<Order> _orders = new();

        public int Count => _orders.Count;

        public void Add(Order order)
        {
            _orders.Add(order);
        }

        /// <summary>Finds an order.</summary>
        public Order? Find(int id)
        {
            return _orders.Find(o => o.Id == id);
        }
    }

    public interface IOrderService
    {
        void Add(Order order);
    }

    public record Order(int Id, string Name);
}
