// The runtime floor: the cheapest answer a JavaScript worker can give.
export default {
  fetch() {
    return new Response('ok');
  },
};
