// Command hello is the program the images tests build.
package main

import "fmt"

func main() {
	fmt.Println("hello")
}
