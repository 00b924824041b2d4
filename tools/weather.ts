import { defineTool, z } from 'p2tui';

// Demo data: a fixed table, so the demo runs offline and the same way every time.
const CITIES: Record<string, { celsius: number; conditions: string }> = {
  paris: { celsius: 22, conditions: 'partly cloudy' },
  tokyo: { celsius: 10, conditions: 'light rain' },
  'san francisco': { celsius: 17, conditions: 'fog' },
  london: { celsius: 14, conditions: 'overcast' },
  'new york': { celsius: 19, conditions: 'sunny' },
  oslo: { celsius: 4, conditions: 'snow showers' },
  berlin: { celsius: 16, conditions: 'clear' },
};

export const getWeather = defineTool({
  name: 'get_weather',
  description: 'Current weather (temperature and conditions) for a city.',
  input: z.object({
    location: z.string().min(1).describe('City name, e.g. Paris'),
    unit: z.enum(['celsius', 'fahrenheit']).default('celsius'),
  }),
  effect: 'pure',
  cacheTtlMs: 5 * 60_000,
  run({ location, unit }) {
    const city = CITIES[location.trim().toLowerCase()];
    if (city === undefined) {
      throw new Error(`no weather data for '${location}'; this demo knows ${Object.keys(CITIES).join(', ')}`);
    }
    const temperature = unit === 'celsius' ? city.celsius : Math.round(city.celsius * 1.8 + 32);
    const symbol = unit === 'celsius' ? '°C' : '°F';
    return {
      location,
      temperature,
      unit,
      conditions: city.conditions,
      summary: `${location}: ${temperature} ${symbol}, ${city.conditions}`,
    };
  },
});
